import Foundation
import Mail

/// The pages of `/apply`: the form (fresh, or again with inline errors and every typed
/// value), the acknowledgement, and short error pages. No JavaScript; inline CSS only.
struct ApplicationFormPage {
    /// Models offered as suggestions (the review rules' supported models).
    var models: [String]
    var billingMethods: [String]
    var protocols: [String]
    var maximumConverters: Int
    var maximumDestinations: Int

    static let style = """
    body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d232a;background:#fafbfc;line-height:1.4}
    h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin:1.6rem 0 .4rem}
    fieldset{border:1px solid #c9d1d9;border-radius:6px;margin:.8rem 0;padding:.6rem 1rem 1rem;background:#fff}
    legend{font-weight:600;padding:0 .3rem}
    .grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(13rem,1fr));gap:.6rem 1rem}
    label{display:block;font-size:.9rem;font-weight:600;margin-bottom:.15rem}
    input[type=text],input[type=email],select{width:100%;box-sizing:border-box;padding:.35rem .45rem;border:1px solid #8c959f;border-radius:4px;font:inherit}
    input[aria-invalid=true],select[aria-invalid=true]{border:2px solid #cf222e;background:#fff5f5}
    .error{color:#cf222e;font-size:.85rem;margin:.2rem 0 0}
    .hint{color:#57606a;font-size:.8rem;margin:.15rem 0 0}
    .notice{border:1px solid #d4a72c;background:#fff8c5;padding:.6rem 1rem;border-radius:6px}
    .summary{border:1px solid #cf222e;background:#ffebe9;padding:.6rem 1rem;border-radius:6px}
    .ok{border:1px solid #2da44e;background:#dafbe1;padding:.6rem 1rem;border-radius:6px}
    .checks label{display:inline;font-weight:normal;margin-right:1rem}
    button{font:inherit;padding:.45rem 1rem;border-radius:6px;border:1px solid #8c959f;background:#f6f8fa;cursor:pointer}
    button.primary{background:#1f883d;color:#fff;border-color:#1a7f37;font-weight:600}
    .actions{display:flex;gap:.8rem;flex-wrap:wrap;margin-top:1rem}
    code,.secret{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
    .secret{display:block;padding:.4rem .6rem;background:#f6f8fa;border:1px solid #d0d7de;border-radius:4px}
    dt{font-weight:600;margin-top:.6rem}dd{margin-left:0}
    """

    static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(HTML.escape(title))</title>
        <style>\(style)</style>
        </head>
        <body>
        \(body)
        </body>
        </html>

        """
    }

    /// The form with `errors` (form field → message) next to their inputs.
    func form(_ form: ApplicationForm, errors: [String: String], notice: String?, token: String) -> String {
        var b = "<h1>Apply for Tollgate</h1>\n<p>Tollgate runs your VPN converters and the certificates they use. Fill in your organisation, the converters (VPN gateways) you run and the networks they should reach. Rows left empty are ignored.</p>\n"
        if let notice { b += "<p class=\"notice\" role=\"status\">\(HTML.escape(notice))</p>\n" }
        if !errors.isEmpty {
            b += "<div class=\"summary\" role=\"alert\" id=\"error-summary\"><strong>Please correct \(errors.count == 1 ? "the field" : "the \(errors.count) fields") marked below.</strong></div>\n"
        }
        b += "<form method=\"post\" action=\"/apply\" accept-charset=\"utf-8\" novalidate>\n"
        b += hidden("formToken", token) + hidden("converterRows", String(form.converters.count)) + hidden("destinationRows", String(form.destinations.count))

        b += "<fieldset><legend>Organisation</legend><div class=\"grid\">\n"
        b += text("organisation", "Organisation name", form.organisation, errors, autocomplete: "organization")
        b += text("mail", "Contact mail", form.mail, errors, type: "email", autocomplete: "email", hint: "Verdict and credentials are mailed here.")
        b += select("billingMethod", "Billing method", form.billingMethod, billingMethods, errors)
        b += "</div></fieldset>\n"

        b += "<h2>Converters</h2>\n" + errorLine("converters", errors)
        let modelList = "<datalist id=\"models\">" + models.map { "<option value=\"\(HTML.escape($0))\">" }.joined() + "</datalist>\n"
        b += modelList
        for (i, row) in form.converters.enumerated() {
            let p = "converters[\(i)]."
            b += "<fieldset><legend>Converter \(i + 1)</legend><div class=\"grid\">\n"
            b += text(p + "name", "Name", row.name, errors, hint: "The CN of its certificate, e.g. gw-berlin")
            b += text(p + "address", "Public address", row.address, errors, hint: "IPv4 or IPv6")
            b += text(p + "model", "Model", row.model, errors, list: "models")
            b += text(p + "firmware", "Firmware", row.firmware, errors, hint: "e.g. 5.9.14")
            b += checkboxes(p + "ikeVersions", "IKE versions", ["1", "2"], row.ikeVersions, errors)
            b += text(p + "ikeProposals", "IKE proposals", row.ikeProposals, errors, hint: "comma-separated, e.g. aes256-sha256-modp2048")
            b += "</div></fieldset>\n"
        }
        if form.converters.count < maximumConverters {
            b += "<button type=\"submit\" name=\"action\" value=\"add-converter\" id=\"add-converter\">Add a converter row</button>\n"
        }

        b += "<h2>Destinations</h2>\n" + errorLine("destinations", errors)
        for (i, row) in form.destinations.enumerated() {
            let p = "destinations[\(i)]."
            b += "<fieldset><legend>Destination \(i + 1)</legend><div class=\"grid\">\n"
            b += text(p + "network", "Network (CIDR)", row.network, errors, hint: "e.g. 10.20.0.0/16 or 2001:db8::/48")
            b += select(p + "protocol", "Protocol", row.protocol, protocols, errors)
            b += text(p + "ports", "Ports", row.ports, errors, hint: "tcp/udp: 443, 8000-8100; empty: all")
            b += "</div></fieldset>\n"
        }
        if form.destinations.count < maximumDestinations {
            b += "<button type=\"submit\" name=\"action\" value=\"add-destination\" id=\"add-destination\">Add a destination row</button>\n"
        }
        b += "<div class=\"actions\"><button type=\"submit\" name=\"action\" value=\"submit\" class=\"primary\" id=\"submit\">Submit application</button></div>\n"
        b += "</form>\n"
        return Self.page(title: errors.isEmpty ? "Apply for Tollgate" : "Correct your application — Tollgate", body: b)
    }

    /// The acknowledgement: ID, the status token (shown once), state, status URL, and
    /// credentials when the rules approved at once.
    func received(id: String, token: String, state: String, verdict: String?, statusURL: String,
                  credentials: ApplicationService.Approval?, mail: String) -> String {
        var b = "<h1>Application received</h1>\n"
        b += "<p class=\"ok\" role=\"status\">Your application <code id=\"application-id\">\(HTML.escape(id))</code> is <strong id=\"application-state\">\(HTML.escape(state))</strong>.</p>\n"
        if let verdict { b += "<p>Verdict: <span id=\"verdict\">\(HTML.escape(verdict))</span></p>\n" }
        b += "<dl>\n<dt>Application ID</dt><dd><code>\(HTML.escape(id))</code></dd>\n"
        b += "<dt>Status token</dt><dd><span class=\"secret\" id=\"status-token\">\(HTML.escape(token))</span>"
        b += "<p class=\"hint\">Shown only now: Tollgate keeps only a hash of it. Copy it somewhere safe; you need it to see the status.</p></dd>\n"
        b += "<dt>Status URL</dt><dd><code id=\"status-url\">\(HTML.escape(statusURL))</code>"
        b += "<p class=\"hint\">Send the token as <code>Authorization: Bearer TOKEN</code>, e.g. <code>curl -H 'Authorization: Bearer TOKEN' \(HTML.escape(statusURL))</code>.</p></dd>\n"
        if let credentials {
            b += "<dt>Organisation number</dt><dd><code id=\"org-number\">\(HTML.escape(credentials.orgNumber))</code></dd>\n"
            b += "<dt>Subscriber ID</dt><dd><code id=\"subscriber-id\">\(HTML.escape(credentials.subscriberId))</code></dd>\n"
            b += "<dt>Signature</dt><dd><span class=\"secret\" id=\"signature\">\(HTML.escape(credentials.signature))</span><p class=\"hint\">Shown only now (and mailed once).</p></dd>\n"
        }
        b += "</dl>\n<p>The verdict is mailed to <strong>\(HTML.escape(mail))</strong>.</p>\n"
        return Self.page(title: "Application received — Tollgate", body: b)
    }

    /// A short page for errors without a form (413, 415, 400, 403, 503).
    static func message(title: String, text: String) -> String {
        page(title: title + " — Tollgate",
             body: "<h1>\(HTML.escape(title))</h1>\n<p>\(HTML.escape(text))</p>\n<p><a href=\"/apply\">Back to the application form</a></p>\n")
    }

    // MARK: - Controls

    private func hidden(_ name: String, _ value: String) -> String {
        "<input type=\"hidden\" name=\"\(HTML.escape(name))\" value=\"\(HTML.escape(value))\">\n"
    }

    private func errorLine(_ field: String, _ errors: [String: String]) -> String {
        guard let message = errors[field] else { return "" }
        return "<p class=\"error\" id=\"\(HTML.escape("error-" + field))\">\(HTML.escape(message))</p>\n"
    }

    private func describedBy(_ field: String, _ errors: [String: String], hint: Bool) -> String {
        let ids = (errors[field] != nil ? ["error-" + field] : []) + (hint ? ["hint-" + field] : [])
        guard !ids.isEmpty else { return "" }
        return " aria-describedby=\"\(HTML.escape(ids.joined(separator: " ")))\"" + (errors[field] != nil ? " aria-invalid=\"true\"" : "")
    }

    private func text(_ name: String, _ label: String, _ value: String, _ errors: [String: String], type: String = "text",
                      autocomplete: String? = nil, list: String? = nil, hint: String? = nil) -> String {
        let n = HTML.escape(name)
        var s = "<div><label for=\"\(n)\">\(HTML.escape(label))</label>"
        s += "<input type=\"\(type)\" id=\"\(n)\" name=\"\(n)\" value=\"\(HTML.escape(value))\""
        if let autocomplete { s += " autocomplete=\"\(autocomplete)\"" }
        if let list { s += " list=\"\(list)\"" }
        s += describedBy(name, errors, hint: hint != nil) + ">"
        if let hint { s += "<p class=\"hint\" id=\"\(HTML.escape("hint-" + name))\">\(HTML.escape(hint))</p>" }
        return s + errorLine(name, errors) + "</div>\n"
    }

    private func select(_ name: String, _ label: String, _ value: String, _ options: [String], _ errors: [String: String]) -> String {
        let n = HTML.escape(name)
        var s = "<div><label for=\"\(n)\">\(HTML.escape(label))</label><select id=\"\(n)\" name=\"\(n)\"\(describedBy(name, errors, hint: false))>"
        // A value not on the menu (sent by hand) is kept, so its error makes sense.
        let all = options.contains(value) || value.isEmpty ? options : options + [value]
        for option in all {
            s += "<option value=\"\(HTML.escape(option))\"\(option == value ? " selected" : "")>\(HTML.escape(option))</option>"
        }
        return s + "</select>" + errorLine(name, errors) + "</div>\n"
    }

    private func checkboxes(_ name: String, _ label: String, _ options: [String], _ checked: [String], _ errors: [String: String]) -> String {
        let n = HTML.escape(name)
        var s = "<div class=\"checks\" role=\"group\" aria-labelledby=\"\(HTML.escape("label-" + name))\"><label id=\"\(HTML.escape("label-" + name))\" style=\"display:block;font-weight:600\">\(HTML.escape(label))</label>"
        // A value not offered (sent by hand) is kept, so its error makes sense.
        for option in options + checked.filter({ !options.contains($0) }) {
            let id = HTML.escape(name + "-" + option)
            s += "<input type=\"checkbox\" id=\"\(id)\" name=\"\(n)\" value=\"\(HTML.escape(option))\"\(checked.contains(option) ? " checked" : "")\(describedBy(name, errors, hint: false))>"
            s += "<label for=\"\(id)\">IKEv\(HTML.escape(option))</label>"
        }
        return s + errorLine(name, errors) + "</div>\n"
    }
}
