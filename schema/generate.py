#!/usr/bin/env python3
"""Writes tollgate.schema (slapd.conf form) and tollgate.ldif (cn=config form) from the
definitions below, so the two never drift. Run after editing: python3 schema/generate.py
"""
import os, textwrap

ARC = "2.25.281291083995307130527836655381809361975"   # uuid d39eb132-6b0f-4fbe-97b6-25863f467437
AT, OC = ARC + ".1", ARC + ".2"

DSTRING = "1.3.6.1.4.1.1466.115.121.1.15"
IA5 = "1.3.6.1.4.1.1466.115.121.1.26"
NUMERIC = "1.3.6.1.4.1.1466.115.121.1.36"
INTEGER = "1.3.6.1.4.1.1466.115.121.1.27"
GTIME = "1.3.6.1.4.1.1466.115.121.1.24"
DN = "1.3.6.1.4.1.1466.115.121.1.12"

def s(eq="caseIgnoreMatch", sub="caseIgnoreSubstringsMatch", order=None, syntax=DSTRING, length=None):
    return dict(eq=eq, sub=sub, order=order, syntax=syntax, length=length)

STR = s()
STR_ORD = s(order="caseIgnoreOrderingMatch")
EXACT = s(eq="caseExactMatch", sub="caseExactSubstringsMatch")
IA5S = s(eq="caseIgnoreIA5Match", sub="caseIgnoreIA5SubstringsMatch", syntax=IA5)
NUM = s(eq="numericStringMatch", sub="numericStringSubstringsMatch", order="numericStringOrderingMatch", syntax=NUMERIC)
INT = s(eq="integerMatch", sub=None, order="integerOrderingMatch", syntax=INTEGER)
TIME = s(eq="generalizedTimeMatch", sub=None, order="generalizedTimeOrderingMatch", syntax=GTIME)
DNS = s(eq="distinguishedNameMatch", sub=None, syntax=DN)
PROFILE = s(eq="caseExactIA5Match", sub=None, syntax=IA5)

# (number, name, description, matching, single-valued, comment)
ATTRS = [
 (1, "tgOrgNumber", "organisation number of a subscriber (tenant)", NUM, True,
  "Issued on approval, unique and never reused. Copied onto every entry of the tenant so\n"
  "that searches and ACLs can select one tenant's entries."),
 (2, "tgSubscriberId", "subscriber ID, e.g. 1001-01", STR, True,
  "The login name of a subscriber (HTTP Basic user for EST enrolment)."),
 (3, "tgBillingMethod", "billing method: invoice, card or direct-debit", STR, True, None),
 (4, "tgState", "lifecycle state of an entry", STR, True,
  "Subscribers and applications: pending, approved, rejected, active, suspended.\n"
  "Converters: registered, certified, up, degraded, down, revoked. Servers: up, down."),
 (5, "tgApplicationId", "identifier of a subscription application", STR, True, None),
 (6, "tgStatusTokenHash", "salted hash of the status token of an application", EXACT, True,
  "The token itself is shown to the applicant once and never stored."),
 (7, "tgConverterId", "globally unique converter identifier: <org>-<name>", STR, True, None),
 (8, "tgModel", "converter hardware/software model", STR, True, None),
 (9, "tgFirmware", "converter firmware version, dotted numbers", STR, True, None),
 (10, "tgIkeVersion", "IKE major version a converter supports: 1 or 2", NUM, False, None),
 (11, "tgIkeProposal", "IKE proposal a converter supports, strongSwan syntax", STR, False,
  "For example aes256-sha256-modp2048 or aes128gcm16-prfsha256-ecp256."),
 (12, "tgAssignedServer", "DN of the Tollgate server that manages a converter", DNS, True, None),
 (13, "tgLastSeen", "time a converter or server last answered", TIME, True, None),
 (14, "tgNetwork", "destination network in CIDR notation, IPv4 or IPv6", IA5S, True,
  "Canonical form: the network address with host bits zero, e.g. 10.20.0.0/16 or\n"
  "2001:db8::/32."),
 (15, "tgAddressFrom", "first address of tgNetwork as 32 lower-case hex digits", s(order="caseIgnoreOrderingMatch", sub=None), True,
  "IPv4 networks are mapped into ::ffff:0:0/96. With tgAddressTo this lets an LDAP\n"
  "search decide containment: (&(tgAddressFrom<=X)(tgAddressTo>=X))."),
 (16, "tgAddressTo", "last address of tgNetwork as 32 lower-case hex digits", s(order="caseIgnoreOrderingMatch", sub=None), True, None),
 (17, "tgPrefixLength", "prefix length of tgNetwork (IPv4: 0-32, IPv6: 0-128)", INT, True, None),
 (18, "tgProtocol", "IP protocol: tcp, udp, icmp, esp or any", STR, True, None),
 (19, "tgPortRange", "port or inclusive port range, e.g. 443 or 8000-8100", STR, False,
  "Absent means every port."),
 (20, "tgNotBefore", "start of validity", TIME, True, None),
 (21, "tgNotAfter", "end of validity", TIME, True, None),
 (22, "tgAction", "allow or deny", STR, True, "Absent means allow."),
 (23, "tgEventId", "unique identifier of a history event", STR_ORD, True,
  "Generalized time followed by a random suffix, so that ids sort by time."),
 (24, "tgEventType", "kind of history event, dotted, e.g. application.received", STR, True, None),
 (25, "tgEventTime", "time of an event", TIME, True, None),
 (26, "tgActor", "who caused an event: operator, subscriber ID, converter or system", STR, True, None),
 (27, "tgEventData", "event or record details as a JSON object", EXACT, True, None),
 (28, "tgSampleStart", "start of a traffic sample or report period", TIME, True, None),
 (29, "tgSampleInterval", "length of a traffic sample in seconds", INT, True, None),
 (30, "tgBytesIn", "bytes received in a sample", INT, True, None),
 (31, "tgBytesOut", "bytes sent in a sample", INT, True, None),
 (32, "tgPacketsIn", "packets received in a sample", INT, True, None),
 (33, "tgPacketsOut", "packets sent in a sample", INT, True, None),
 (34, "tgReportPeriod", "report period: day, week or month", STR, True, None),
 (35, "tgServerRole", "role of a Tollgate server: master or slave", STR, True, None),
 (36, "tgRegion", "region a server serves", STR, True, None),
 (37, "tgCapacity", "number of converters a server may manage", INT, True, None),
 (38, "tgCertificateSerial", "serial number of an issued certificate, lower-case hex", IA5S, False, None),
 (39, "tgCertificateNotAfter", "expiry of the current certificate of a converter", TIME, True, None),
 (40, "tgRequestedConverter", "a converter requested in an application, as JSON", EXACT, False, None),
 (41, "tgRequestedDestination", "a destination requested in an application, as JSON", EXACT, False, None),
 (42, "tgVerdictReason", "why an application was approved or rejected; names the rule", STR, True, None),
 (43, "tgRevocationReason", "RFC 5280 CRL reason of a revoked certificate, e.g. keyCompromise", STR, True, None),
 (44, "tgCRLNumber", "number of the last CRL the CA issued", INT, True,
  "Monotonic; kept on the CA entry so that every server continues the sequence."),
 (45, "tgStatusPort", "TCP port of the status endpoint of a converter agent", INT, True,
  "tollgate-agent run --status-listen; the monitor uses 9443 when absent. The host is\n"
  "the converter's ipHostNumber."),
 (46, "tgTrafficCursor", "sequence number of the last traffic record collected from a converter", INT, True,
  "Written in the same LDAP transaction as the samples made from those records, so a\n"
  "restart of Tollgate neither loses nor counts a record twice."),
 (47, "tgHealth", "monitoring state of a converter: up, degraded, down, expiring or unknown", STR, True,
  "Written by the prober only when it changes (tgLastSeen likewise only with it).\n"
  "Separate from tgState, which keeps the converter's lifecycle (certified, revoked)."),
 (48, "tgPeakBytes", "largest bytes in plus out of one 5-minute sample within a sample", INT, True,
  "Equal to tgBytesIn + tgBytesOut for 5-minute samples; the maximum over the rolled-up\n"
  "5-minute samples for hourly and daily ones. Peak throughput is tgPeakBytes / 300 s."),
 (49, "tgAllowedAttempts", "client access attempts a converter allowed within a sample", INT, True, None),
 (50, "tgDeniedAttempts", "client access attempts a converter refused within a sample", INT, True, None),
 (51, "tgHourlyBytes", "bytes in plus out of each hour of a daily traffic sample", PROFILE, True,
  "Hourly profile of a daily roll-up (tgSampleInterval 86400): 24 decimal integers\n"
  "separated by commas, hour 00 first (UTC), an hour without traffic as 0, e.g.\n"
  "'0,0,1200,...'. Written by the roll-up from the day's hourly samples, so month and\n"
  "week reports can draw hourly charts after the hourly samples expired."),
 (52, "tgHourlyPeakBytes", "largest 5-minute bytes of each hour of a daily traffic sample", PROFILE, True,
  "Same encoding as tgHourlyBytes: per hour the largest bytes in plus out of one\n"
  "5-minute sample (the hourly samples' tgPeakBytes), 0 for an hour without traffic."),
]

# (number, name, description, kind, sup, must, may, comment)
CLASSES = [
 (1, "tgSubscriber", "a client organisation subscribed to the service", "STRUCTURAL", "top",
  ["tgOrgNumber", "tgSubscriberId", "o", "mail", "tgState"],
  ["userPassword", "tgBillingMethod", "tgApplicationId", "description", "telephoneNumber", "postalAddress"],
  "The tenant's root entry. Its userPassword holds the salted hash of the subscriber's\n"
  "signature; a simple bind as this DN proves the signature. Children: ou=converters,\n"
  "ou=destinations, ou=history, ou=traffic, ou=reports."),
 (2, "tgApplication", "a subscription application", "STRUCTURAL", "top",
  ["tgApplicationId", "o", "mail", "tgState"],
  ["tgBillingMethod", "tgRequestedConverter", "tgRequestedDestination", "tgVerdictReason",
   "tgOrgNumber", "tgStatusTokenHash", "tgEventTime", "description"], None),
 (3, "tgConverter", "a VPN gateway (converter) of a subscriber", "STRUCTURAL", "top",
  ["cn", "tgOrgNumber", "tgState"],
  ["tgConverterId", "ipHostNumber", "tgModel", "tgFirmware", "tgIkeVersion", "tgIkeProposal",
   "tgAssignedServer", "tgLastSeen", "tgCertificateSerial", "tgCertificateNotAfter", "description",
   "tgStatusPort", "tgTrafficCursor", "tgHealth"],
  "Certificates are held with the RFC 4523 auxiliary class pkiUser (userCertificate;binary)."),
 (4, "tgDestination", "a destination the terminals of a subscriber may reach", "STRUCTURAL", "top",
  ["cn", "tgOrgNumber", "tgNetwork", "tgProtocol"],
  ["tgAddressFrom", "tgAddressTo", "tgPrefixLength", "tgPortRange", "tgNotBefore", "tgNotAfter",
   "tgAction", "description"],
  "One entry per network/protocol/port set: the client's X.509 destination directory."),
 (5, "tgHistoryEvent", "one exchange with a client or converter", "STRUCTURAL", "top",
  ["tgEventId", "tgEventType", "tgEventTime"],
  ["tgOrgNumber", "cn", "tgActor", "tgEventData", "description"], None),
 (6, "tgTrafficSample", "traffic counters of one converter for one interval", "STRUCTURAL", "top",
  ["cn", "tgOrgNumber", "tgSampleStart", "tgSampleInterval"],
  ["tgConverterId", "tgBytesIn", "tgBytesOut", "tgPacketsIn", "tgPacketsOut", "tgEventData",
   "tgPeakBytes", "tgAllowedAttempts", "tgDeniedAttempts", "tgHourlyBytes", "tgHourlyPeakBytes"],
  "DN cn=<converter>.<interval>.<start as YYYYmmddHHMMSSZ> under the tenant's ou=traffic;\n"
  "intervals 300 (5 minutes), 3600 and 86400 (roll-ups). tgEventData holds the\n"
  "per-destination split as JSON, see docs/monitoring.md."),
 (7, "tgReport", "a per-client report for one period", "STRUCTURAL", "top",
  ["cn", "tgOrgNumber", "tgReportPeriod", "tgSampleStart"],
  ["labeledURI", "tgNotAfter", "tgEventData", "description"], None),
 (8, "tgServer", "a Tollgate server of a cluster", "STRUCTURAL", "top",
  ["cn", "tgServerRole", "tgState"],
  ["tgRegion", "tgCapacity", "labeledURI", "ipHostNumber", "tgLastSeen", "description"], None),
 (9, "tgRevokedCertificate", "a certificate the CA revoked", "STRUCTURAL", "top",
  ["tgCertificateSerial", "tgEventTime"],
  ["tgRevocationReason", "cn", "tgOrgNumber", "tgConverterId", "description"],
  "One entry per revoked serial under ou=revoked,ou=pki; the CRL is built from these."),
 (10, "tgCertificateAuthority", "state of the Tollgate CA", "AUXILIARY", "top",
  [], ["tgCRLNumber", "labeledURI"], "Added to the CA entry next to pkiCA."),
]

HEADER = """Tollgate directory schema.

OIDs live under the arc {arc}
(a 2.25 UUID OID, uuid d39eb132-6b0f-4fbe-97b6-25863f467437):
  {arc}.1.N   attribute types
  {arc}.2.N   object classes
Depends on core, cosine, nis and inetorgperson from Debian's /etc/ldap/schema.
Standard attributes are reused where one fits: o, cn, mail, description, userPassword,
ipHostNumber (nis), labeledURI, userCertificate / cACertificate /
certificateRevocationList (RFC 4523, classes pkiUser and pkiCA).

Generated by schema/generate.py together with the other form of this schema
({other}); edit generate.py and run it, do not edit by hand.
""".strip()

def check_desc(name, desc):
    # qdstring: a quote inside DESC ends it early and slapd rejects the schema.
    if "'" in desc or "\\" in desc:
        raise SystemExit(f"{name}: DESC must not contain a quote or backslash: {desc!r}")

def attr_def(n, name, desc, m, single):
    check_desc(name, desc)
    parts = [f"( {AT}.{n} NAME '{name}'", f"DESC '{desc}'", f"EQUALITY {m['eq']}"]
    if m["order"]: parts.append(f"ORDERING {m['order']}")
    if m["sub"]: parts.append(f"SUBSTR {m['sub']}")
    parts.append(f"SYNTAX {m['syntax']}" + (" SINGLE-VALUE" if single else "") + " )")
    return parts

def oc_def(n, name, desc, kind, sup, must, may):
    check_desc(name, desc)
    return [f"( {OC}.{n} NAME '{name}'", f"DESC '{desc}'", f"SUP {sup} {kind}",
            *([f"MUST ( {' $ '.join(must)} )"] if must else []), f"MAY ( {' $ '.join(may)} ) )"]

def comment(text, prefix="# "):
    return "\n".join(prefix + line if line else "#" for line in text.split("\n"))

here = os.path.dirname(os.path.abspath(__file__))
sch = [comment(HEADER.format(arc=ARC, other="tollgate.ldif")), ""]
ldif = [comment(HEADER.format(arc=ARC, other="tollgate.schema")), "#",
        "# Load into a running cn=config slapd:  ldapadd -Y EXTERNAL -H ldapi:/// -f schema/tollgate.ldif",
        "# or offline:                           slapadd -n0 -F /etc/ldap/slapd.d -l schema/tollgate.ldif",
        "dn: cn=tollgate,cn=schema,cn=config", "objectClass: olcSchemaConfig", "cn: tollgate"]
for n, name, desc, m, single, cmt in ATTRS:
    text = f"{name}: {desc}" + (("\n" + cmt) if cmt else "")
    sch.append(comment(text))
    parts = attr_def(n, name, desc, m, single)
    sch.append("attributetype " + parts[0] + "\n" + "\n".join("\t" + p for p in parts[1:]))
    sch.append("")
    ldif.append(comment(text))
    ldif.append("olcAttributeTypes: " + parts[0] + "\n" + "\n".join("  " + p for p in parts[1:]))
for n, name, desc, kind, sup, must, may, cmt in CLASSES:
    text = f"{name}: {desc}" + (("\n" + cmt) if cmt else "")
    sch.append(comment(text))
    parts = oc_def(n, name, desc, kind, sup, must, may)
    sch.append("objectclass " + parts[0] + "\n" + "\n".join("\t" + p for p in parts[1:]))
    sch.append("")
    ldif.append(comment(text))
    ldif.append("olcObjectClasses: " + parts[0] + "\n" + "\n".join("  " + p for p in parts[1:]))
open(os.path.join(here, "tollgate.schema"), "w").write("\n".join(sch).rstrip() + "\n")
open(os.path.join(here, "tollgate.ldif"), "w").write("\n".join(ldif).rstrip() + "\n")
