import Directory
import Foundation
import LDAPClient

/// One traffic page of one converter, bucketed and waiting to be committed: its samples
/// (merged with what is stored) and the new `tgTrafficCursor` go into the directory in
/// one LDAP transaction, possibly together with other converters' pages
/// (``CollectionCommitter``).
public struct CollectedPage: Sendable {
    public var converter: MonitoredConverter
    /// The cursor the page was requested with (`after=`), i.e. the stored cursor.
    public var after: Int64
    /// The page's `last`: the cursor stored by the commit.
    public var last: Int64
    public var bucketer: TrafficBucketer

    public init(converter: MonitoredConverter, after: Int64, last: Int64, bucketer: TrafficBucketer) {
        self.converter = converter
        self.after = after
        self.last = last
        self.bucketer = bucketer
    }

    /// The DN of every sample this page writes, by RDN value.
    func sampleDNs(_ layout: DirectoryLayout) -> [DistinguishedName] {
        bucketer.samples.sorted { $0.key < $1.key }.map { layout.trafficSample($0.value.orgNumber, $0.value.rdnValue) }
    }

    /// The sample adds/updates of this page merged with `stored` (the existing samples by
    /// lowercased RDN value; absent: the sample does not exist yet), then the cursor.
    func writes(_ layout: DirectoryLayout, stored: [String: LDAPEntry]) throws -> [LDAPWrite] {
        var writes: [LDAPWrite] = []
        for (_, sample) in bucketer.samples.sorted(by: { $0.key < $1.key }) {
            let dn = layout.trafficSample(sample.orgNumber, sample.rdnValue)
            if let entry = stored[sample.rdnValue.lowercased()] {
                let merged = TrafficBucketer.merge(try TrafficSample(entry: entry), sample)
                writes.append(.modify(dn, merged.attributes.filter { $0.0 != "cn" }.map { name, values in
                    values.isEmpty ? LDAPModification.delete(name) : LDAPModification.replace(name, values)
                }.filter { !($0.operation == .delete && entry[$0.attribute] == nil) }))
            } else {
                writes.append(.add(dn, sample.entryAttributes.map { ($0.0, $0.1.map { Data($0.utf8) }) }))
            }
        }
        writes.append(.modify(converter.dn, [.replace("tgTrafficCursor", [String(last)])]))
        return writes
    }
}
