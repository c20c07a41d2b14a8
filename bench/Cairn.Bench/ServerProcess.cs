using Cairn.TestSupport;

namespace Cairn.Bench;

/// <summary>A real <c>cairn serve</c> (Release build next to the bench) on ephemeral loopback ports.</summary>
internal sealed class ServerProcess : IDisposable
{
    private readonly CairnServer _server;
    public string Url { get; }
    public int IscsiPort { get; }
    public string DataDir { get; }

    /// <summary>The server's process id (for /proc/PID/status).</summary>
    public int Pid => _server.Id;

    public static string CairnDll => CairnServer.CairnDll;

    /// <summary>Pools every bench server declares (names the benches use).</summary>
    public const string Pools = "b,bench";

    public ServerProcess(string dataDir, params string[] extraArgs)
    {
        DataDir = dataDir;
        int http = FreePort();
        IscsiPort = FreePort();
        Url = $"http://127.0.0.1:{http}";
        var env = new Dictionary<string, string?> { ["CAIRN_POOLS"] = Pools };
        // Extra variables for the server only (runtime knobs under study), as NAME=VALUE;NAME=VALUE.
        foreach (var kv in (Environment.GetEnvironmentVariable("CAIRN_BENCH_SERVER_ENV") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
            env[kv[..kv.IndexOf('=')]] = kv[(kv.IndexOf('=') + 1)..];
        _server = CairnServer.Start(new[] { "serve", "--data", dataDir, "--http", $"127.0.0.1:{http}", "--iscsi", $"127.0.0.1:{IscsiPort}" }.Concat(extraArgs), env);
        _server.WaitHealthyAsync(new Uri(Url)).GetAwaiter().GetResult();
    }

    public static int FreePort() => CairnServer.FreePort();

    /// <summary>The server's Unix socket, as the CLI names it.</summary>
    public string Socket => "unix:" + Path.Combine(DataDir, "cairn.sock");

    /// <summary>Runs the real CLI against the HTTP listener and returns its wall time.</summary>
    public TimeSpan Cli(params string[] args) => CliVia(Url, args);

    /// <summary>Runs the real CLI against <paramref name="server"/> (a URL or <see cref="Socket"/>) and returns its wall time.</summary>
    public static TimeSpan CliVia(string server, params string[] args)
    {
        var r = Commands.Run("dotnet", [CairnDll, .. args, "--server", server]);
        if (!r.Succeeded) throw new InvalidOperationException($"cairn {string.Join(' ', args)} failed: {r.StdErr}");
        return r.Elapsed;
    }

    public void Dispose()
    {
        _server.Kill();
        _server.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
