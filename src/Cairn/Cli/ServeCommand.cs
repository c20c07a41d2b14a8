using System.CommandLine;
using Cairn.Core;
using Cairn.Hosting;
using Microsoft.Extensions.Configuration;

namespace Cairn.Cli;

/// <summary><c>cairn serve</c> in the managed program: settings from defaults, a config file, CAIRN_* and options, then the host.</summary>
internal static partial class CairnCli
{
    private static partial Command Serve()
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
        var auth = new Option<string?>("--auth") { HelpName = "keystone|noauth", Description = "API tokens: keystone (Cairn's identity service under /identity/v3, default) or noauth (development only, loopback only: token user:project, caller is admin; $CAIRN_AUTH)" };
        var publicUrl = new Option<string?>("--public-url") { HelpName = "URL", Description = "Base URL clients reach this server at, for the identity catalog (default: from --http; $CAIRN_PUBLIC_URL)" };
        var blockPool = new Option<string?>("--block-storage-pool") { HelpName = "NAME", Description = "The pool Block Storage (Cinder) volumes live in (default volumes; $CAIRN_BLOCK_STORAGE_POOL)" };
        var backupDir = new Option<string?>("--backup-dir") { HelpName = "DIR", Description = "Where StarlingX volume exports are written and imports read (default /opt/backups; $CAIRN_BACKUP_DIR)" };
        var serve = new Command("serve", "Run the server: all HTTP APIs and the iSCSI target") { data, http, iscsi, socket, config, tlsCert, tlsKey, clientCa, clientAllow, exporter, tgtPort, pools, auth, publicUrl, blockPool, backupDir };
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
                Put("Auth", pr.GetValue(auth));
                Put("PublicUrl", pr.GetValue(publicUrl));
                Put("BlockStoragePool", pr.GetValue(blockPool));
                Put("BackupDir", pr.GetValue(backupDir));
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
