@testable import Agent
import Testing

@Suite("VICI messages")
struct VICIMessageTests {
    @Test("sections, values and lists encode to the documented bytes and decode back")
    func roundTrip() throws {
        let message = VICIMessage([
            VICIMessage.value("name", "tg"),
            .section("conn", [VICIMessage.list("ts", ["10.0.0.0/8", "::/0"]), .section("local", [VICIMessage.value("auth", "pubkey")])]),
        ])
        let bytes = try message.encoded()
        // key "name" = "tg": type 3, name length 4, "name", value length 0x0002, "tg".
        #expect(Array(bytes.prefix(10)) == [3, 4] + Array("name".utf8) + [0, 2] + Array("tg".utf8))
        #expect(bytes[10] == 1 && bytes.last == 2, "section start … section end")
        #expect(try VICIMessage.decode(bytes) == message)
        #expect(try VICIMessage.decode(bytes)["name"] == "tg")
    }

    @Test("truncated and malformed answers are refused with a clear error")
    func malformed() throws {
        let bytes = try VICIMessage([.section("s", [VICIMessage.value("k", "v")])]).encoded()
        #expect(throws: AgentError.self) { try VICIMessage.decode(Array(bytes.dropLast())) }  // section never ends
        #expect(throws: AgentError.self) { try VICIMessage.decode(Array(bytes.prefix(5))) }  // cut inside a value
        #expect(throws: AgentError.self) { try VICIMessage.decode([9]) }  // unknown element type
        #expect(throws: AgentError.self) { try VICIMessage.decode([2]) }  // end without start
        #expect(throws: AgentError.self) { try VICIMessage([VICIMessage.value(String(repeating: "k", count: 256), "v")]).encoded() }
    }
}
