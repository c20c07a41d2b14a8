using System.CommandLine;
using System.CommandLine.Parsing;
using Cairn.Core;

namespace Cairn.Cli;

/// <summary>The <c>cairn</c> command line: <c>serve</c> and the client commands.</summary>
internal static partial class CairnCli
{
    public static async Task<int> RunAsync(string[] args)
    {
        var root = Build();
        var pr = root.Parse(args);
        // Parse errors are one line with a hint, never the whole help: ours, not System.CommandLine's default action.
        if (UsageError(pr) is { } why)
        {
            await Console.Error.WriteLineAsync($"error: {why} (see '{CommandPath(pr.CommandResult)} --help')");
            return ExitCodes.Usage;
        }
        if (pr.Action is System.CommandLine.Help.HelpAction)
        {
            using var help = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);
            var rc = await pr.InvokeAsync(new InvocationConfiguration { Output = help });
            await Console.Out.WriteAsync(OptionalArguments(help.ToString(), pr.CommandResult.Command));
            return rc;
        }
        return await pr.InvokeAsync();
    }

    /// <summary>Help's Arguments section shows an optional argument as optional too (<c>[&lt;ROOT&gt;]</c>), as its usage line does.</summary>
    internal static string OptionalArguments(string help, Command command)
    {
        var lines = help.Split('\n');
        foreach (var a in command.Arguments.Where(a => a.Arity.MinimumNumberOfValues == 0))
        {
            var label = $"  <{a.Name}>  ";
            for (int i = 0; i < lines.Length; i++)
                if (lines[i].StartsWith(label, StringComparison.Ordinal))
                {
                    var rest = lines[i][label.Length..];
                    lines[i] = $"  [<{a.Name}>]" + (rest.StartsWith("  ", StringComparison.Ordinal) ? rest : "  " + rest.TrimStart());
                }
        }
        return string.Join('\n', lines);
    }

    internal static RootCommand Build()
    {
        var root = new RootCommand("Cairn: thin volumes, instant snapshots and clones, iSCSI targets, durable jobs.\n" +
            "Client commands take --server URL|unix:SOCKET and --json. Exit codes: " + ExitCodes.Summary + ".");
        root.Subcommands.Add(Serve());
        // --server and --json belong to the client commands (every command under these), not to serve.
        foreach (var group in new[] { Commands.Volume(), Commands.Folder(), Commands.Snapshot(), Commands.Clone(), Commands.Pool(), JobCommands.Job(), TargetCommands.Target(),
            IdentityCommands.Project(), IdentityCommands.User(), IdentityCommands.Role() })
        {
            group.Options.Add(Commands.Server);
            group.Options.Add(Commands.JsonOut);
            root.Subcommands.Add(group);
        }
        return root;
    }

    /// <summary>The first thing wrong with the command line, as a lower-case phrase; null when it parsed.</summary>
    internal static string? UsageError(ParseResult pr)
    {
        if (pr.UnmatchedTokens.Count > 0)
        {
            var t = pr.UnmatchedTokens[0];
            return t.StartsWith('-') && t.Length > 1 ? $"unrecognized option '{t}'" : $"unexpected argument '{t}'";
        }
        // A token that looks like an option but was taken as an argument (volume list --jsn): an unknown option,
        // unless it came after "--".
        var dashDash = pr.Tokens.ToList().FindIndex(t => t.Type == TokenType.DoubleDash);
        for (var c = pr.CommandResult; c is not null; c = c.Parent as CommandResult)
            foreach (var a in c.Children.OfType<ArgumentResult>())
                foreach (var t in a.Tokens)
                    if (t.Value.StartsWith('-') && t.Value.Length > 1 && (dashDash < 0 || IndexOf(pr.Tokens, t) < dashDash))
                        return $"unrecognized option '{t.Value}'";
        if (pr.Errors.Count == 0) return null;
        var m = pr.Errors[0].Message.TrimEnd('.');
        if (m.StartsWith("Required command was not provided", StringComparison.Ordinal)) return "missing command";
        return m.Length == 0 ? "invalid command line" : char.ToLowerInvariant(m[0]) + m[1..];
    }

    private static int IndexOf(IReadOnlyList<Token> tokens, Token t)
    {
        for (int i = 0; i < tokens.Count; i++) if (ReferenceEquals(tokens[i], t)) return i;
        return -1;
    }

    private static string CommandPath(CommandResult c)
    {
        var names = new List<string>();
        for (CommandResult? r = c; r is not null; r = r.Parent as CommandResult)
            names.Insert(0, r.Parent is null ? "cairn" : r.Command.Name);
        return string.Join(' ', names);
    }

    /// <summary><c>serve</c>: the server's own options (ServeCommand.cs); in the native CLI, a hand-over to the server (src/Cairn.Cli).</summary>
    private static partial Command Serve();
}

/// <summary>The exit codes every command uses (README, docs/api/admin.md).</summary>
internal static class ExitCodes
{
    /// <summary>It worked.</summary>
    public const int Ok = 0;

    /// <summary>The server refused or failed (conflict, exists, no space, a failed job), or it could not be reached, or
    /// a local file could not be read or written.</summary>
    public const int Error = 1;

    /// <summary>The command line is wrong: an unknown option or command, a missing or extra argument, an invalid value
    /// (a bad name or size, refused by the CLI or by the server as invalid_argument).</summary>
    public const int Usage = 2;

    /// <summary>What the command names does not exist (the server's not_found, or the file to import).</summary>
    public const int NotFound = 3;

    public const string Summary = "0 ok, 1 error, 2 usage (bad command line or value), 3 not found";
}
