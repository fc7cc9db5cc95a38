import Directory
import Foundation
import Testing

@Suite("Addresses, networks, ports and field validation")
struct NetworkParsingTests {
    @Test("IPv4 and IPv6 addresses parse and print canonically")
    func addresses() throws {
        #expect(IPAddress("10.20.3.4")?.description == "10.20.3.4")
        #expect(IPAddress("10.20.3.4")?.hex == "00000000000000000000ffff0a140304")
        #expect(IPAddress("2001:0db8:0000:0000:0000:0000:0000:0001")?.description == "2001:db8::1")
        #expect(IPAddress("::")?.description == "::")
        #expect(IPAddress("fe80:0:0:0:1:0:0:0")?.description == "fe80::1:0:0:0", "RFC 5952: the first of equal zero runs")
        #expect(IPAddress("1:0:0:2:0:0:0:3")?.description == "1:0:0:2::3", "RFC 5952: the longest zero run")
        #expect(IPAddress("::ffff:10.0.0.1")?.isIPv4 == true, "IPv4-mapped IPv6 is IPv4")
        #expect(IPAddress("::ffff:10.0.0.1")?.description == "10.0.0.1")
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-4", "::1::2", "2001:db8::g", "1:2:3:4:5:6:7:8:9", "*)(uid=*", "10.0.0.1 "] {
            #expect(IPAddress(bad) == nil, "\(bad) must not parse")
        }
    }

    @Test("CIDR networks: canonical, host bits refused, prefix bounds, containment")
    func networks() throws {
        let v4 = try IPNetwork(parsing: "10.20.0.0/16")
        #expect(v4.first.description == "10.20.0.0")
        #expect(v4.last.description == "10.20.255.255")
        #expect(v4.contains(try #require(IPAddress("10.20.3.4"))))
        #expect(!v4.contains(try #require(IPAddress("10.21.0.0"))))
        #expect(try IPNetwork(parsing: "10.30.1.5").description == "10.30.1.5/32")
        #expect(try IPNetwork(parsing: "0.0.0.0/0").last.description == "255.255.255.255")
        let v6 = try IPNetwork(parsing: "2001:db8::/32")
        #expect(v6.last.description == "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")
        #expect(!v6.contains(try #require(IPAddress("10.20.3.4"))))
        let hostBits = #expect(throws: InvalidFieldError.self) { try IPNetwork(parsing: "10.20.3.4/16", field: "destination.network") }
        #expect(hostBits?.field == "destination.network")
        #expect(hostBits?.message.contains("10.20.0.0/16") == true)
        for bad in ["10.0.0.0/33", "2001:db8::/129", "10.0.0.0/-1", "10.0.0.0/", "10.0.0.0/8/8", "x/8", "10.0.0.0/ 8"] {
            #expect(throws: InvalidFieldError.self, "\(bad)") { try IPNetwork(parsing: bad) }
        }
    }

    @Test("port ranges")
    func ports() throws {
        #expect(try PortRange(parsing: "443").description == "443")
        let range = try PortRange(parsing: "8000-8100")
        #expect(range.contains(8050) && !range.contains(8101))
        for bad in ["0", "65536", "80-", "-80", "100-90", "http", "1-2-3", "08x"] {
            #expect(throws: InvalidFieldError.self, "\(bad)") { try PortRange(parsing: bad) }
        }
    }

    @Test("models name the bad field")
    func modelValidation() throws {
        let address = try #require(IPAddress("192.0.2.1"))
        var converter = Converter(name: "c", orgNumber: "1001", address: address, ikeVersions: [3])
        #expect { try converter.validate() } throws: { ($0 as? InvalidFieldError)?.field == "converter.ikeVersions" }
        converter.ikeVersions = [2]
        converter.firmware = "5.9.8; rm -rf"
        #expect { try converter.validate() } throws: { ($0 as? InvalidFieldError)?.field == "converter.firmware" }
        converter.firmware = "5.9.8"
        try converter.validate()
        let subscriber = Subscriber(orgNumber: "0123", subscriberId: "x", name: "n", mail: "a@b.example")
        #expect { try subscriber.validate() } throws: { ($0 as? InvalidFieldError)?.field == "subscriber.orgNumber" }
        let control = Subscriber(orgNumber: "5", subscriberId: "x", name: "bad\u{7}bell", mail: "a@b.example")
        #expect { try control.validate() } throws: { ($0 as? InvalidFieldError)?.field == "subscriber.name" }
        let destination = Destination(orgNumber: "5", network: try IPNetwork(parsing: "10.0.0.0/8"), protocol: "gre")
        #expect { try destination.validate() } throws: { ($0 as? InvalidFieldError)?.field == "destination.protocol" }
    }

    @Test("GeneralizedTime round-trips")
    func generalizedTime() throws {
        let date = Date(timeIntervalSince1970: 1_795_000_000)
        let text = GeneralizedTime.string(date)
        #expect(text.count == 15 && text.hasSuffix("Z"))
        #expect(GeneralizedTime.date(text) == date)
        #expect(GeneralizedTime.date("20261340000000Z") == nil)
        #expect(try GeneralizedTime.parse("2026-12-31", field: "f") == GeneralizedTime.date("20261231000000Z"))
    }
}
