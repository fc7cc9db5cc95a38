import Directory
import Foundation
import LDAPClient
@testable import Reports
import Testing

/// The fast sample decoder gives what ``TrafficSample/init(entry:)`` gives.
@Suite("Sample decoder")
struct SampleDecoderTests {
    static func entry(_ sample: TrafficSample, eventData: String? = nil) -> LDAPEntry {
        var attributes: [String: [Data]] = [:]
        for (name, values) in sample.entryAttributes { attributes[name] = values.map { Data($0.utf8) } }
        if let eventData { attributes["tgEventData"] = [Data(eventData.utf8)] }
        return LDAPEntry(dn: "cn=x", attributes: attributes)
    }

    @Test("the same sample as TrafficSample(entry:), escapes and Unicode included")
    func sameAsFoundation() throws {
        let start = try #require(SampleDecoder.time("20261102103500Z"))
        #expect(start == GeneralizedTime.date("20261102103500Z"))
        #expect(SampleDecoder.time("19991231235959Z") == GeneralizedTime.date("19991231235959Z"))
        #expect(SampleDecoder.time("20240229000000Z") == GeneralizedTime.date("20240229000000Z"))
        #expect(SampleDecoder.time("2026110210350Z") == nil)
        let sample = TrafficSample(orgNumber: "1001", converter: "conv-a", start: start, interval: 300,
                                   totals: .init(bytesIn: 12, bytesOut: 34, packetsIn: 5, packetsOut: 6), peakBytes: 99,
                                   allowedAttempts: 7, deniedAttempts: 8,
                                   breakdown: .init(destinations: ["10.20.0.0/16": .init(bytesIn: 1, bytesOut: 2, packetsIn: 3, packetsOut: 4),
                                                                   "Zürich \"<&>\" 東京 😀": .init(bytesIn: 5)],
                                                    denied: ["10.9.9.9": 3, "a\\b": 1]))
        let entry = Self.entry(sample)
        #expect(SampleDecoder.sample(entry) == (try TrafficSample(entry: entry)))
        #expect(SampleDecoder.sample(entry) == sample)
        // Written by hand: \u escapes, a surrogate pair, spaces.
        let hand = #"{ "destinations" : { "a\/b\u00fc\ud83d\ude00" : { "bytesIn" : 10 , "bytesOut": 0, "packetsIn": 0, "packetsOut": 2 } }, "denied": {} }"#
        let decoded = try #require(SampleDecoder.sample(Self.entry(sample, eventData: hand)))
        #expect(decoded.breakdown.destinations == ["a/bü😀": .init(bytesIn: 10, packetsOut: 2)])
        #expect(decoded == (try TrafficSample(entry: Self.entry(sample, eventData: hand))))
        // Unexpected shapes fall back to Foundation (same result).
        let odd = #"{"destinations":{"x":{"bytesIn":1.5}},"denied":{}}"#
        #expect(SampleDecoder.breakdown(Data(odd.utf8)) == nil)
        #expect(SampleDecoder.sample(Self.entry(sample, eventData: odd)) == (try TrafficSample(entry: Self.entry(sample, eventData: odd))))
    }

    @Test("a daily roll-up's hourly profile decodes like TrafficSample(entry:); a malformed one is left out")
    func dailyProfile() throws {
        let start = try #require(SampleDecoder.time("20261102000000Z"))
        let bytes = (0..<24).map { Int64($0) * 1_000_003 }, peaks = (0..<24).map { Int64($0) * 17 }
        let sample = TrafficSample(orgNumber: "1001", converter: "conv-a", start: start, interval: 86_400,
                                   totals: .init(bytesIn: bytes.reduce(0, +)), peakBytes: 23 * 17,
                                   hourlyBytes: bytes, hourlyPeakBytes: peaks)
        let entry = Self.entry(sample)
        let decoded = try #require(SampleDecoder.sample(entry))
        #expect(decoded == sample)
        #expect(decoded == (try TrafficSample(entry: entry)))
        #expect(decoded.hasProfile)
        var attributes = entry.attributes
        attributes["tghourlybytes"] = [Data("1,2,3".utf8)]
        let short = LDAPEntry(dn: "cn=x", attributes: attributes)
        #expect(SampleDecoder.sample(short)?.hourlyBytes == nil)
        #expect(SampleDecoder.sample(short)?.hasProfile == false)
        #expect(SampleDecoder.sample(short) == (try TrafficSample(entry: short)))
    }
}
