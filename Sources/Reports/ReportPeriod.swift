import Foundation

/// The length of a report: a UTC calendar day, an ISO week (Monday 00:00 UTC to the next
/// Monday) or a UTC calendar month.
public enum ReportPeriod: String, Sendable, Codable, CaseIterable, Hashable {
    case day
    case week
    case month

    /// The Gregorian calendar in UTC, Monday first.
    static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0) ?? .gmt
        calendar.firstWeekday = 2
        calendar.minimumDaysInFirstWeek = 4
        return calendar
    }()

    /// Parses `day`, `week` or `month`; throws a ``ReportError/badRequest(_:)`` naming the values.
    public static func parse(_ text: String) throws(ReportError) -> ReportPeriod {
        guard let period = ReportPeriod(rawValue: text.lowercased()) else {
            throw .badRequest("unknown report period \"\(text)\": use day, week or month")
        }
        return period
    }

    /// The start of the period that contains `date`.
    public func start(containing date: Date) -> Date {
        let calendar = Self.calendar
        switch self {
        case .day:
            return calendar.startOfDay(for: date)
        case .week:
            let components = calendar.dateComponents([.yearForWeekOfYear, .weekOfYear], from: date)
            return calendar.date(from: components) ?? calendar.startOfDay(for: date)
        case .month:
            let components = calendar.dateComponents([.year, .month], from: date)
            return calendar.date(from: components) ?? calendar.startOfDay(for: date)
        }
    }

    /// True when `date` is the start of a period of this kind.
    public func isStart(_ date: Date) -> Bool { start(containing: date) == date }

    /// The end (exclusive) of the period starting at `start`.
    public func end(from start: Date) -> Date { advance(start, by: 1) }

    /// The start of the period `count` periods after (negative: before) `start`.
    public func advance(_ start: Date, by count: Int) -> Date {
        let calendar = Self.calendar
        switch self {
        case .day: return calendar.date(byAdding: .day, value: count, to: start) ?? start.addingTimeInterval(Double(count) * 86_400)
        case .week: return calendar.date(byAdding: .day, value: 7 * count, to: start) ?? start.addingTimeInterval(Double(count) * 604_800)
        case .month: return calendar.date(byAdding: .month, value: count, to: start) ?? start
        }
    }

    /// The start of the last period that ended at or before `now`.
    public func lastComplete(before now: Date) -> Date { advance(start(containing: now), by: -1) }

    /// Length of the samples the report's throughput figures use: 5 minutes for a day,
    /// an hour for a week or a month.
    public var slotSeconds: Int { self == .day ? 300 : 3600 }

    /// `YYYYmmdd` of a period start (UTC), as in report links.
    public static func dayString(_ date: Date) -> String {
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d%02d%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0)
    }

    /// Parses `YYYYmmdd` or `YYYY-MM-DD` as a UTC midnight.
    public static func parseDay(_ text: String) -> Date? {
        let digits = text.replacingOccurrences(of: "-", with: "")
        guard digits.count == 8, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
              let year = Int(digits.prefix(4)), let month = Int(digits.dropFirst(4).prefix(2)), let day = Int(digits.suffix(2)),
              (1...12).contains(month), (1...31).contains(day) else { return nil }
        let date = calendar.date(from: DateComponents(year: year, month: month, day: day))
        // Reject 2026-02-31 and the like (the calendar would roll over).
        guard let date, dayString(date) == digits else { return nil }
        return date
    }
}
