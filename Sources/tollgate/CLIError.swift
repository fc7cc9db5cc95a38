import ArgumentParser
import Foundation

/// Turns any error into one line on stderr and exit status 1.
enum CLIError {
    static func reporting<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as ExitCode {
            throw error
        } catch let error as CleanExit {
            throw error
        } catch let error as ValidationError {
            throw error
        } catch {
            FileHandle.standardError.write(Data("tollgate: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
