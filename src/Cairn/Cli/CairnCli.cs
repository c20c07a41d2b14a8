using System.CommandLine;
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
        var root = new RootCommand("Cairn: thin volumes, instant snapshots and clones, iSCSI targets, durable jobs.");
        root.Options.Add(Commands.Server);
        root.Options.Add(Commands.JsonOut);
        root.Subcommands.Add(Serve());
        root.Subcommands.Add(Commands.Volume());
        root.Subcommands.Add(Commands.Folder());
        root.Subcommands.Add(Commands.Snapshot());
        root.Subcommands.Add(Commands.Clone());
        root.Subcommands.Add(Commands.Pool());
        root.Subcommands.Add(JobCommands.Job());
        root.Subcommands.Add(TargetCommands.Target());
        return await root.Parse(args).InvokeAsync();
    }

    private static Command Serve()
    {
        var data = new Option<string?>("--data") { Description = "Data directory (default ./cairn-data; $CAIRN_DATA)" };
        var http = new Option<string?>("--http") { Description = "HTTP listen ADDR:PORT (default 127.0.0.1:8776; $CAIRN_HTTP)" };
        var iscsi = new Option<string?>("--iscsi") { Description = "iSCSI listen ADDR:PORT (default 127.0.0.1:3260; $CAIRN_ISCSI)" };
        var socket = new Option<string?>("--socket") { Description = "Unix socket for local clients (default DATA/cairn.sock, 'none' for no socket; $CAIRN_SOCKET)" };
        var config = new Option<string?>("--config") { Description = "JSON config file ($CAIRN_CONFIG)" };
        var tlsCert = new Option<string?>("--tls-cert") { Description = "TLS certificate (PEM) for the HTTP listener" };
        var tlsKey = new Option<string?>("--tls-key") { Description = "TLS private key (PEM)" };
        var clientCa = new Option<string?>("--client-ca") { Description = "CA (PEM) that client certificates must chain to" };
        var clientAllow = new Option<string?>("--client-allow") { Description = "Allowed client certificate subjects or SHA-256 fingerprints, comma-separated" };
        var exporter = new Option<string?>("--exporter") { Description = "What exports targets: cairn (own iSCSI target, default) or tgt (a running tgtd through tgtadm; $CAIRN_EXPORTER)" };
        var tgtPort = new Option<string?>("--tgt-control-port") { Description = "tgtd's control port, as tgtadm -C N ($CAIRN_TGT_CONTROL_PORT)" };
        var pools = new Option<string?>("--pools") { Description = "Pools to create at start if missing: NAME[:ENGINE],… ($CAIRN_POOLS)" };
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
                return 2;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or InvalidDataException or System.Security.Cryptography.CryptographicException)
            {
                // One line: the reason of a wrapper (the configuration library's "Failed to load …") is in its inner exception.
                await Console.Error.WriteLineAsync("error: " + e.Message + (e.InnerException is { } inner ? ": " + inner.Message : ""));
                return 1;
            }
        });
        return serve;
    }
}
