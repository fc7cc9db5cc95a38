/// HTML escaping for text and attribute values, for the HTML parts of mails and the
/// pages built next to them (the application form, client reports).
public enum HTML {
    /// `text` with `& < > " '` replaced by character references.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
