import Foundation
import TestSupport

/// Runs a tool from PATH and throws when it fails.
func runTool(_ tool: String, _ arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [tool] + arguments
    process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    process.standardError = FileHandle(forWritingAtPath: "/dev/null")
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw TestServerError(message: "\(tool) \(arguments.joined(separator: " ")) failed (\(process.terminationStatus))")
    }
}
