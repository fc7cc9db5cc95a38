import Foundation
import Subscription
import TestSupport
import Testing

/// The review rules file (`serve --review-rules`).
@Suite("Application review rules file")
struct ApplicationRulesTests {
    func write(_ text: String) throws -> String {
        let path = temporaryDirectory("rules") + "/rules.json"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("missing keys keep the defaults; models are case-insensitive")
    func partialFile() throws {
        let rules = try ReviewRules.load(path: try write(#"{"minimumFirmware": {"StrongSwan": "6.0"}, "autoApprove": true}"#))
        #expect(rules.minimumFirmware == ["strongswan": "6.0"])
        #expect(rules.autoApprove)
        #expect(rules.maxConverters == ReviewRules.default.maxConverters)
        #expect(rules.requiredIkeVersion == 2)
        let none = try ReviewRules.load(path: try write(#"{"requiredIkeVersion": null}"#))
        #expect(none.requiredIkeVersion == nil)
    }

    @Test("a broken file is refused with its path")
    func brokenFile() throws {
        for text in ["{", #"{"forbiddenNetworks": ["10.0.0.0/40"]}"#, #"{"maxConverters": "many"}"#] {
            let path = try write(text)
            do {
                _ = try ReviewRules.load(path: path)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.description.contains(path))
            }
        }
    }
}
