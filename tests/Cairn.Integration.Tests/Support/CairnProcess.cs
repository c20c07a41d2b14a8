using Cairn.TestSupport;

namespace Cairn.Integration.Tests.Support;

/// <summary>
/// A real <c>cairn serve</c> process on ephemeral loopback ports, with helpers to run the real CLI against it,
/// stop it gracefully or kill it with SIGKILL. Starting and waiting for /healthz is <see cref="CairnServer"/>'s.
/// </summary>
public sealed class CairnProcess : IAsyncDisposable
{
    private readonly CairnServer _server;

    public string DataDir { get; }
    public int HttpPort { get; }
    public int IscsiPort { get; }
    public string Url => $"http://127.0.0.1:{HttpPort}";
    public string Log => _server.Log;
    /// <summary>The server's process id (the same after it re-executes itself).</summary>
    public int Pid => _server.Id;

    /// <summary>Waits (generously) for a line the server prints a moment after the event that causes it.</summary>
    public Task<bool> WaitForLogAsync(string text) => _server.WaitForLogAsync(text);

    private CairnProcess(CairnServer server, string dataDir, int http, int iscsi)
    {
        _server = server;
        DataDir = dataDir;
        HttpPort = http;
        IscsiPort = iscsi;
    }

    /// <summary>The pools every test server declares (<c>CAIRN_POOLS</c>), unless a test sets its own.</summary>
    public const string DefaultPools = "tank,pool,img,d,p,c,k,conf,crash,j,t,x,na-jbod-02-p01";

    /// <summary>The built cairn.dll next to the test assembly.</summary>
    public static string CairnDll => CairnServer.CairnDll;

    public static int FreePort() => CairnServer.FreePort();

    /// <summary>Starts a server on <paramref name="dataDir"/> (a new temp dir when null) and waits for /healthz.</summary>
    public static async Task<CairnProcess> StartAsync(string? dataDir = null, IEnumerable<string>? extraArgs = null, int? httpPort = null, int? iscsiPort = null, IDictionary<string, string>? env = null)
    {
        dataDir ??= TempDir.Create("cairn-it");
        int http = httpPort ?? FreePort(), iscsi = iscsiPort ?? FreePort();
        // Pools exist only once created: the tests' servers declare the ones the tests use (as a deployment's config would).
        var environment = new Dictionary<string, string?> { ["CAIRN_POOLS"] = DefaultPools };
        if (env is not null) foreach (var (k, v) in env) environment[k] = v;
        var server = CairnServer.Start(
            new[] { "serve", "--data", dataDir, "--http", $"127.0.0.1:{http}", "--iscsi", $"127.0.0.1:{iscsi}" }.Concat(extraArgs ?? []), environment);
        var cp = new CairnProcess(server, dataDir, http, iscsi);
        try
        {
            await server.WaitHealthyAsync(new Uri(cp.Url));
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        return cp;
    }

    /// <summary>Runs the CLI against this server: <c>cairn ARGS --server URL</c>.</summary>
    public Task<CliResult> CliAsync(params string[] args) => RunCliAsync(args.Concat(["--server", Url]).ToArray());

    /// <summary>The server's Unix socket (the default <c>DATA/cairn.sock</c>).</summary>
    public string SocketPath => Path.Combine(DataDir, "cairn.sock");

    /// <summary>Runs the CLI over the server's Unix socket, as a CLI on the server's host does.</summary>
    public Task<CliResult> LocalCliAsync(params string[] args) => RunCliAsync(args.Concat(["--server", "unix:" + SocketPath]).ToArray());

    /// <summary>Runs the CLI with exactly these arguments.</summary>
    public static async Task<CliResult> RunCliAsync(string[] args, TimeSpan? timeout = null, IDictionary<string, string>? env = null)
    {
        var environment = new Dictionary<string, string?> { ["NO_COLOR"] = "1", ["CAIRN_SERVER"] = null };
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) environment[k] = v;
        var r = await Commands.RunAsync("dotnet", [CairnDll, .. args], timeout ?? TimeSpan.FromMinutes(2), environment);
        Assert.False(r.TimedOut, $"cairn {string.Join(' ', args)} timed out\nstdout: {r.StdOut}\nstderr: {r.StdErr}");
        return new CliResult(r.ExitCode, r.StdOut, r.StdErr);
    }

    /// <summary>SIGKILL: no chance to flush or clean up.</summary>
    public void Kill() => _server.Kill();

    /// <summary>SIGTERM and wait for a clean exit.</summary>
    public Task StopAsync() => _server.StopAsync();

    public bool HasExited => _server.HasExited;

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}

/// <summary>Exit code and output of a CLI run.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public CliResult Ok()
    {
        Assert.True(ExitCode == 0, $"cairn exited {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}");
        return this;
    }

    public System.Text.Json.Nodes.JsonNode Json() => System.Text.Json.Nodes.JsonNode.Parse(Ok().Stdout)!;
}

/// <summary>Temp directories removed at process exit.</summary>
public static class TempDir
{
    public static string Create(string prefix)
    {
        var d = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(d);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(d, true); } catch (IOException) { } catch (UnauthorizedAccessException) { } };
        return d;
    }
}
