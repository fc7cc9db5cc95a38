import Foundation
import SwiftASN1

/// RFC 5280 `Time`: UTCTime for years 1950–2049, GeneralizedTime otherwise; whole seconds, UTC.
enum ASN1Time {
    static func serialize(_ date: Date, into coder: inout DER.Serializer) throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        guard let year = parts.year, let month = parts.month, let day = parts.day,
            let hour = parts.hour, let minute = parts.minute, let second = parts.second
        else {
            throw ASN1Error.invalidASN1Object(reason: "cannot split \(date) into calendar fields")
        }
        if (1950..<2050).contains(year) {
            try coder.serialize(
                UTCTime(year: year, month: month, day: day, hours: hour, minutes: minute, seconds: second)
            )
        } else {
            try coder.serialize(
                GeneralizedTime(
                    year: year,
                    month: month,
                    day: day,
                    hours: hour,
                    minutes: minute,
                    seconds: second,
                    fractionalSeconds: 0
                )
            )
        }
    }
}
