import Foundation
import Mail

/// The report as one HTML page: inline SVG charts (traffic over time per converter,
/// availability bars, top destinations, refused attempts) and tables with the numbers.
/// No JavaScript, print styles (`@media print`), every text escaped.
public enum ReportPage {
    /// Line colours of the converters (repeats after eight).
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]

    /// The full page.
    public static func html(_ report: ReportAnalysis, generated: Date = Date()) -> String {
        let title = "Tollgate \(report.period.rawValue) report \(label(report)): \(report.organisation)"
        var page = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(HTML.escape(title))</title>
        <style>
        body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 960px; color: #222; background: #fff; }
        h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
        table { border-collapse: collapse; margin: .5em 0; } th, td { padding: .25em .6em; border-bottom: 1px solid #e5e5e5; }
        th { text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
        .chart { display: block; margin: .5em 0; } .flag { color: #b00020; font-weight: bold; } .muted { color: #666; }
        .legend span { display: inline-block; margin-right: 1em; } .swatch { display: inline-block; width: .9em; height: .9em; vertical-align: middle; margin-right: .3em; }
        @media print { body { margin: 0; max-width: none; font-size: 10pt; } h2 { break-after: avoid; } svg, table { break-inside: avoid; } a { color: inherit; text-decoration: none; } }
        </style>
        </head>
        <body>
        <h1>\(HTML.escape(report.organisation))</h1>
        <p id="summary">\(HTML.escape(report.period.rawValue.capitalized)) report for organisation <b id="org-number">\(HTML.escape(report.orgNumber))</b>, \
        <span id="period-range">\(HTML.escape(iso(report.start))) to \(HTML.escape(iso(report.end)))</span> (UTC, end exclusive). \
        \(report.sampleCount) samples. Generated \(HTML.escape(iso(generated))).</p>

        """
        page += totalsSection(report)
        page += "<h2>Traffic over time</h2>\n" + trafficChart(report) + legend(report)
        page += "<h2>Availability</h2>\n" + availabilityChart(report) + availabilityTable(report)
        page += "<h2>Top destinations</h2>\n"
        page += barChart(id: "chart-destinations", rows: report.topDestinations.map { ($0.destination, Double($0.bytes), bytesText($0.bytes)) },
                         color: "#1f77b4", empty: "No traffic to any destination in this period.")
        page += destinationsTable(report)
        page += "<h2>Refused attempts</h2>\n<p>Refused attempts in total: <b id=\"denied-total\">\(grouped(Int64(report.total.deniedAttempts)))</b>; allowed: <span id=\"allowed-total\">\(grouped(Int64(report.total.allowedAttempts)))</span>.</p>\n"
        page += barChart(id: "chart-denied", rows: report.topDenied.map { ($0.destination, Double($0.denied), grouped(Int64($0.denied))) },
                         color: "#d62728", empty: "No refused attempts in this period.")
        page += deniedTable(report)
        page += anomaliesSection(report)
        page += "<p class=\"muted\">How these numbers are computed: docs/reports.md of your Tollgate operator. Throughput slots: \(report.slotSeconds / 60) minutes.</p>\n</body>\n</html>\n"
        return page
    }

    /// An error page (403, 410, 404…) with a sentence on what to do.
    public static func errorPage(status: Int, title: String, message: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(status) \(HTML.escape(title))</title>
        <style>body { font-family: system-ui, sans-serif; margin: 3em auto; max-width: 40em; }</style></head>
        <body><h1 id="error-title">\(HTML.escape(title))</h1><p id="error-message">\(HTML.escape(message))</p></body></html>

        """
    }

    // MARK: - Sections

    static func totalsSection(_ r: ReportAnalysis) -> String {
        var html = "<h2>Totals</h2>\n<table id=\"totals\">\n<thead><tr><th>Converter</th><th>Bytes in</th><th>Bytes out</th><th>Packets</th><th>Peak</th><th>95th percentile</th><th>Availability</th><th>Refused</th></tr></thead>\n<tbody>\n"
        for (i, f) in r.converters.enumerated() {
            html += row(f, id: "conv-\(i)")
        }
        html += "</tbody>\n<tfoot>\n" + row(r.total, id: "total") + "</tfoot>\n</table>\n"
        return html
    }

    static func row(_ f: ReportAnalysis.Figures, id: String) -> String {
        "<tr id=\"row-\(id)\" data-name=\"\(HTML.escape(f.name))\"><th>\(HTML.escape(f.name))</th>"
            + "<td class=\"n\" id=\"\(id)-bytes-in\" data-value=\"\(f.bytesIn)\">\(grouped(f.bytesIn))</td>"
            + "<td class=\"n\" id=\"\(id)-bytes-out\" data-value=\"\(f.bytesOut)\">\(grouped(f.bytesOut))</td>"
            + "<td class=\"n\" id=\"\(id)-packets\" data-value=\"\(f.packets)\">\(grouped(f.packets))</td>"
            + "<td class=\"n\" id=\"\(id)-peak\">\(rate(f.peakBytesPerSecond))</td>"
            + "<td class=\"n\" id=\"\(id)-p95\">\(rate(f.p95BytesPerSecond))</td>"
            + "<td class=\"n\" id=\"\(id)-availability\">\(f.availability.map(percent) ?? "–")</td>"
            + "<td class=\"n\" id=\"\(id)-denied\">\(grouped(Int64(f.deniedAttempts)))</td></tr>\n"
    }

    static func trafficChart(_ r: ReportAnalysis) -> String {
        let width = 900.0, height = 260.0, left = 70.0, bottom = 24.0, top = 10.0
        let plotW = width - left - 10, plotH = height - bottom - top
        let maxValue = max(1, r.converters.flatMap(\.series).max() ?? 0)
        let count = max(1, r.converters.first?.series.count ?? 1)
        var svg = "<svg id=\"chart-traffic\" class=\"chart\" role=\"img\" aria-label=\"traffic over time per converter\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\">\n"
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotW)\" height=\"\(plotH)\" fill=\"#fafafa\" stroke=\"#999\"/>\n"
        for k in 1..<4 {
            let y = top + plotH * Double(k) / 4
            svg += "<line x1=\"\(left)\" y1=\"\(fmt(y))\" x2=\"\(left + plotW)\" y2=\"\(fmt(y))\" stroke=\"#ddd\"/>\n"
        }
        svg += "<text x=\"\(left - 4)\" y=\"\(top + 10)\" text-anchor=\"end\" font-size=\"11\">\(HTML.escape(bytesText(Int64(maxValue))))</text>\n"
        svg += "<text x=\"\(left - 4)\" y=\"\(top + plotH)\" text-anchor=\"end\" font-size=\"11\">0</text>\n"
        svg += "<text x=\"\(left)\" y=\"\(height - 6)\" font-size=\"11\">\(HTML.escape(iso(r.start)))</text>\n"
        svg += "<text x=\"\(left + plotW)\" y=\"\(height - 6)\" text-anchor=\"end\" font-size=\"11\">\(HTML.escape(iso(r.end)))</text>\n"
        svg += "<text x=\"\(left + plotW / 2)\" y=\"\(height - 6)\" text-anchor=\"middle\" font-size=\"11\">bytes per \(r.slotSeconds / 60) min</text>\n"
        for (i, f) in r.converters.enumerated() {
            let step = count > 1 ? plotW / Double(count - 1) : 0
            let points = f.series.enumerated().map { j, v in
                "\(fmt(left + Double(j) * step)),\(fmt(top + plotH - plotH * v / maxValue))"
            }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(palette[i % palette.count])\" stroke-width=\"2\" points=\"\(points)\"><title>\(HTML.escape(f.name))</title></polyline>\n"
        }
        return svg + "</svg>\n"
    }

    static func legend(_ r: ReportAnalysis) -> String {
        "<p class=\"legend\">" + r.converters.enumerated().map { i, f in
            "<span><i class=\"swatch\" style=\"background:\(palette[i % palette.count])\"></i>\(HTML.escape(f.name))</span>"
        }.joined() + "</p>\n"
    }

    static func availabilityChart(_ r: ReportAnalysis) -> String {
        let width = 900.0, left = 160.0, barH = 22.0, gap = 8.0
        let plotW = width - left - 70
        let length = r.end.timeIntervalSince(r.start)
        let height = max(1, Double(r.converters.count)) * (barH + gap) + 20
        var svg = "<svg id=\"chart-availability\" class=\"chart\" role=\"img\" aria-label=\"availability per converter\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\">\n"
        if r.converters.isEmpty {
            svg += "<text x=\"10\" y=\"20\" font-size=\"12\">No converters.</text>\n"
        }
        for (i, f) in r.converters.enumerated() {
            let y = Double(i) * (barH + gap) + 4
            svg += "<text x=\"\(left - 6)\" y=\"\(fmt(y + barH * 0.7))\" text-anchor=\"end\" font-size=\"12\">\(HTML.escape(f.name))</text>\n"
            svg += "<rect x=\"\(left)\" y=\"\(fmt(y))\" width=\"\(fmt(plotW))\" height=\"\(barH)\" fill=\"#2ca02c\"><title>up</title></rect>\n"
            for interval in f.downIntervals where interval.count == 2 {
                let x = left + plotW * interval[0] / length, w = max(1, plotW * (interval[1] - interval[0]) / length)
                svg += "<rect x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"\(fmt(w))\" height=\"\(barH)\" fill=\"#d62728\"><title>down</title></rect>\n"
            }
            svg += "<text x=\"\(fmt(left + plotW + 6))\" y=\"\(fmt(y + barH * 0.7))\" font-size=\"12\">\(f.availability.map(percent) ?? "–")</text>\n"
        }
        svg += "<text x=\"\(left)\" y=\"\(fmt(height - 4))\" font-size=\"11\">\(HTML.escape(iso(r.start)))</text>\n"
        svg += "<text x=\"\(fmt(left + plotW))\" y=\"\(fmt(height - 4))\" text-anchor=\"end\" font-size=\"11\">\(HTML.escape(iso(r.end)))</text>\n"
        return svg + "</svg>\n"
    }

    static func availabilityTable(_ r: ReportAnalysis) -> String {
        var html = "<table id=\"availability\"><thead><tr><th>Converter</th><th>Availability</th><th>Down</th></tr></thead><tbody>\n"
        for f in r.converters {
            html += "<tr><th>\(HTML.escape(f.name))</th><td class=\"n\">\(f.availability.map(percent) ?? "–")</td><td class=\"n\">\(duration(f.downSeconds))</td></tr>\n"
        }
        return html + "</tbody></table>\n"
    }

    static func barChart(id: String, rows: [(String, Double, String)], color: String, empty: String) -> String {
        let width = 900.0, left = 260.0, barH = 18.0, gap = 6.0
        let plotW = width - left - 140
        let height = max(1, Double(rows.count)) * (barH + gap) + 8
        var svg = "<svg id=\"\(id)\" class=\"chart\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\">\n"
        if rows.isEmpty {
            svg += "<text x=\"10\" y=\"18\" font-size=\"12\">\(HTML.escape(empty))</text>\n"
        }
        let maxValue = max(1, rows.map(\.1).max() ?? 1)
        for (i, row) in rows.enumerated() {
            let y = Double(i) * (barH + gap) + 4
            let w = max(1, plotW * row.1 / maxValue)
            svg += "<text x=\"\(left - 6)\" y=\"\(fmt(y + barH * 0.75))\" text-anchor=\"end\" font-size=\"12\">\(HTML.escape(truncate(row.0, 36)))</text>\n"
            svg += "<rect x=\"\(left)\" y=\"\(fmt(y))\" width=\"\(fmt(w))\" height=\"\(barH)\" fill=\"\(color)\"><title>\(HTML.escape(row.0))</title></rect>\n"
            svg += "<text x=\"\(fmt(left + w + 6))\" y=\"\(fmt(y + barH * 0.75))\" font-size=\"12\">\(HTML.escape(row.2))</text>\n"
        }
        return svg + "</svg>\n"
    }

    static func destinationsTable(_ r: ReportAnalysis) -> String {
        var html = "<table id=\"destinations\"><thead><tr><th>Destination</th><th>Bytes in</th><th>Bytes out</th><th>Total</th></tr></thead><tbody>\n"
        for d in r.topDestinations {
            html += "<tr><th>\(HTML.escape(d.destination))</th><td class=\"n\">\(grouped(d.bytesIn))</td><td class=\"n\">\(grouped(d.bytesOut))</td><td class=\"n\">\(grouped(d.bytes))</td></tr>\n"
        }
        return html + "</tbody></table>\n"
    }

    static func deniedTable(_ r: ReportAnalysis) -> String {
        var html = "<table id=\"denied\"><thead><tr><th>Destination</th><th>Refused attempts</th></tr></thead><tbody>\n"
        for d in r.topDenied {
            html += "<tr><th>\(HTML.escape(d.destination))</th><td class=\"n\">\(grouped(Int64(d.denied)))</td></tr>\n"
        }
        return html + "</tbody></table>\n"
    }

    static func anomaliesSection(_ r: ReportAnalysis) -> String {
        var html = "<h2>Compared with earlier periods</h2>\n<ul id=\"anomalies\">\n"
        for a in r.anomalies {
            html += "<li\(a.flagged ? " class=\"flag\"" : "")>\(HTML.escape(a.subject)): \(HTML.escape(a.explanation))</li>\n"
        }
        return html + "</ul>\n"
    }

    // MARK: - Formatting

    /// `1,234,567`.
    public static func grouped(_ value: Int64) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return value < 0 ? "-" + out : out
    }

    /// `12.34 %` (two decimals, rounded down so that 99.999 % is not shown as 100 %).
    public static func percent(_ value: Double) -> String {
        String(format: "%.2f %%", (value * 10_000).rounded(.down) / 100)
    }

    static func bytesText(_ value: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB"]
        var v = Double(value), i = 0
        while v >= 1000, i < units.count - 1 { v /= 1000; i += 1 }
        return i == 0 ? "\(value) B" : String(format: "%.2f %@", v, units[i])
    }

    static func rate(_ bytesPerSecond: Double) -> String {
        let bits = bytesPerSecond * 8
        let units = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"]
        var v = bits, i = 0
        while v >= 1000, i < units.count - 1 { v /= 1000; i += 1 }
        return String(format: "%.2f %@", v, units[i])
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600) h \(s % 3600 / 60) min" : s >= 60 ? "\(s / 60) min \(s % 60) s" : "\(s) s"
    }

    static func iso(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }

    static func label(_ r: ReportAnalysis) -> String {
        String(iso(r.start).prefix(10))
    }

    static func fmt(_ v: Double) -> String { String(format: "%.1f", v) }

    static func truncate(_ text: String, _ n: Int) -> String { text.count > n ? String(text.prefix(n - 1)) + "…" : text }
}
