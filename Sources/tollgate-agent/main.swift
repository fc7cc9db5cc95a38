import ArgumentParser

/// `tollgate-agent`: the converter-side agent.
///
/// Enrolment (EST), access checks, probes and traffic logs arrive with the access/agent
/// issue; this executable exists so that packaging and scripts can rely on its name.
struct TollgateAgent: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate-agent",
        abstract: "Tollgate's converter-side agent (enrol, check, run: not implemented yet).",
        version: "0.1.0"
    )
}

TollgateAgent.main()
