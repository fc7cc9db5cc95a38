import ArgumentParser

/// `tollgate`: the Tollgate server and its administration commands.
@main
struct Tollgate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate",
        abstract: "Directory-native authentication and management server for VPN converters.",
        version: TollgateVersion.string,
        subcommands: [ServeCommand.self, DirectoryCommand.self, AdminCommand.self]
    )
}

enum TollgateVersion {
    static let string = "0.1.0"
}
