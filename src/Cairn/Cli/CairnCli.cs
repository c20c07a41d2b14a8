using System.CommandLine;
using System.CommandLine.Parsing;
using Cairn.Core;
using Cairn.Hosting;
using Cairn.Server;
using Microsoft.Extensions.Configuration;

namespace Cairn.Cli;

/// <summary>The <c>cairn</c> command line: <c>serve</c> and the client commands.</summary>
internal static class CairnCli
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
        foreach (var group in new[] { Commands.Volume(), Commands.Folder(), Commands.Snapshot(), Commands.Clone(), Commands.Pool(), JobCommands.Job(), TargetCommands.Target() })
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

    private static Command Serve()
    {
        var data = new Option<string?>("--data") { HelpName = "DIR", Description = "Data directory (default ./cairn-data; $CAIRN_DATA)" };
        var http = new Option<string?>("--http") { HelpName = "ADDR:PORT", Description = "HTTP listen ADDR:PORT (default 127.0.0.1:8776; $CAIRN_HTTP)" };
        var iscsi = new Option<string?>("--iscsi") { HelpName = "ADDR:PORT", Description = "iSCSI listen ADDR:PORT (default 127.0.0.1:3260; $CAIRN_ISCSI)" };
        var socket = new Option<string?>("--socket") { HelpName = "PATH", Description = "Unix socket for local clients (default DATA/cairn.sock, 'none' for no socket; $CAIRN_SOCKET)" };
        var config = new Option<string?>("--config") { HelpName = "FILE", Description = "JSON config file ($CAIRN_CONFIG)" };
        var tlsCert = new Option<string?>("--tls-cert") { HelpName = "FILE", Description = "TLS certificate (PEM) for the HTTP listener" };
        var tlsKey = new Option<string?>("--tls-key") { HelpName = "FILE", Description = "TLS private key (PEM)" };
        var clientCa = new Option<string?>("--client-ca") { HelpName = "FILE", Description = "CA (PEM) that client certificates must chain to" };
        var clientAllow = new Option<string?>("--client-allow") { HelpName = "LIST", Description = "Allowed client certificate subjects (CN=…) or SHA-256 fingerprints, separated by ';' (or ',' before the next CN=, fingerprint or *); '*' allows every certificate of --client-ca" };
        var exporter = new Option<string?>("--exporter") { HelpName = "cairn|tgt", Description = "What exports targets: cairn (own iSCSI target, default) or tgt (a running tgtd through tgtadm; $CAIRN_EXPORTER)" };
        var tgtPort = new Option<string?>("--tgt-control-port") { HelpName = "N", Description = "tgtd's control port, as tgtadm -C N ($CAIRN_TGT_CONTROL_PORT)" };
        var pools = new Option<string?>("--pools") { HelpName = "NAME[:ENGINE],…", Description = "Pools to create at start if missing: NAME[:ENGINE],… ($CAIRN_POOLS)" };
        var serve = new Command("serve", "Run the server: all HTTP APIs and the iSCSI target") { data, http, iscsi, socket, config, tlsCert, tlsKey, clientCa, clientAllow, exporter, tgtPort, pools };
        serve.SetAction(async (pr, ct) =>
        {
            try
            {
                var cfgFile = pr.GetValue(config) ?? Environment.GetEnvironmentVariable("CAIRN_CONFIG");
                var cb = new ConfigurationBuilder();
                if (cfgFile is not null)
                {
                    if (!File.Exists(cfgFile)) throw CairnException.Invalid($"--config (CAIRN_CONFIG): {cfgFile} does not exist");
                    // Parsed here first: the configuration library's own error names the file but not what is wrong in it.
                    try
                    {
                        using var doc = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(cfgFile, ct),
                            new System.Text.Json.JsonDocumentOptions { CommentHandling = System.Text.Json.JsonCommentHandling.Skip, AllowTrailingCommas = true });
                        if (doc.RootElement.ValueKind != System.Text.Json.JsonValueKind.Object)
                            throw CairnException.Invalid($"--config (CAIRN_CONFIG): {cfgFile}: a JSON object of settings was expected, not {doc.RootElement.ValueKind.ToString().ToLowerInvariant()}");
                    }
                    catch (System.Text.Json.JsonException e)
                    {
                        throw CairnException.Invalid($"--config (CAIRN_CONFIG): {cfgFile} is not valid JSON: {e.Message.Split(" Path:")[0].Split(" LineNumber:")[0].TrimEnd('.', ' ', '|')} (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1})");
                    }
                    cb.AddJsonFile(Path.GetFullPath(cfgFile), optional: false);
                }
                cb.AddEnvironmentVariables("CAIRN_");
                var overrides = new Dictionary<string, string?>();
                void Put(string key, string? v) { if (v is not null) overrides[key] = v; }
                Put("Data", pr.GetValue(data));
                Put("Http", pr.GetValue(http));
                Put("Iscsi", pr.GetValue(iscsi));
                Put("Socket", pr.GetValue(socket));
                Put("TlsCert", pr.GetValue(tlsCert));
                Put("TlsKey", pr.GetValue(tlsKey));
                Put("ClientCa", pr.GetValue(clientCa));
                Put("ClientAllow", pr.GetValue(clientAllow));
                Put("Exporter", pr.GetValue(exporter));
                Put("TgtControlPort", pr.GetValue(tgtPort));
                Put("Pools", pr.GetValue(pools));
                cb.AddInMemoryCollection(overrides);
                var options = CairnOptionsBinder.Bind(cb.Build(), new CairnOptions());
                return await ServerHost.RunAsync(options, ct);
            }
            catch (CairnException e)
            {
                await Console.Error.WriteLineAsync("error: " + e.Message);
                return ExitCodes.Usage;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or InvalidDataException or System.Security.Cryptography.CryptographicException)
            {
                // One line: the reason of a wrapper (the configuration library's "Failed to load …") is in its inner exception.
                await Console.Error.WriteLineAsync("error: " + e.Message + (e.InnerException is { } inner ? ": " + inner.Message : ""));
                return ExitCodes.Error;
            }
        });
        return serve;
    }
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
