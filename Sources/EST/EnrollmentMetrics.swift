import Metrics

/// `tollgate_enrolments_total{operation="simpleenroll"|"simplereenroll", result=…}` where
/// result is `issued`, `pending`, `unauthorized`, `forbidden`, `bad_request`,
/// `too_large` or `unavailable`. Counters are made on first use (after `tollgate serve`
/// bootstrapped the metrics system) and cached.
enum EnrollmentMetrics {
    static let results = ["issued", "pending", "unauthorized", "forbidden", "bad_request", "too_large", "unavailable"]
    static let enroll = counters("simpleenroll")
    static let reenroll = counters("simplereenroll")

    static func counters(_ operation: String) -> [String: Counter] {
        Dictionary(uniqueKeysWithValues: results.map {
            ($0, Counter(label: "tollgate_enrolments_total", dimensions: [("operation", operation), ("result", $0)]))
        })
    }

    static func result(_ error: ESTError) -> String {
        switch error {
        case .unauthorized: return "unauthorized"
        case .forbidden: return "forbidden"
        case .badRequest: return "bad_request"
        case .payloadTooLarge: return "too_large"
        case .unavailable: return "unavailable"
        }
    }

    static func count(reenroll: Bool, _ result: String) {
        (reenroll ? Self.reenroll : Self.enroll)[result]?.increment()
    }
}
