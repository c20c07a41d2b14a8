using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Cairn.Bench;

/// <summary>A real <c>cairn serve</c> (Release build next to the bench) on ephemeral loopback ports.</summary>
internal sealed class ServerProcess : IDisposable
{
    private readonly Process _p;
    public string Url { get; }
    public int IscsiPort { get; }
    public string DataDir { get; }

    public static string CairnDll => Path.Combine(AppContext.BaseDirectory, "cairn.dll");

    /// <summary>Pools every bench server declares (names the benches use).</summary>
    public const string Pools = "b,bench";

    public ServerProcess(string dataDir, params string[] extraArgs)
    {
        DataDir = dataDir;
        int http = FreePort();
        IscsiPort = FreePort();
        Url = $"http://127.0.0.1:{http}";
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { CairnDll, "serve", "--data", dataDir, "--http", $"127.0.0.1:{http}", "--iscsi", $"127.0.0.1:{IscsiPort}" }.Concat(extraArgs)) psi.ArgumentList.Add(a);
        psi.Environment["CAIRN_POOLS"] = Pools;
        // Extra variables for the server only (runtime knobs under study), as NAME=VALUE;NAME=VALUE.
        foreach (var kv in (Environment.GetEnvironmentVariable("CAIRN_BENCH_SERVER_ENV") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
            psi.Environment[kv[..kv.IndexOf('=')]] = kv[(kv.IndexOf('=') + 1)..];
        _p = Process.Start(psi)!;
        _p.OutputDataReceived += (_, _) => { };
        _p.ErrorDataReceived += (_, _) => { };
        _p.BeginOutputReadLine();
        _p.BeginErrorReadLine();
        using var h = new HttpClient();
        var sw = Stopwatch.StartNew();
        while (true)
        {
            try { if (h.GetAsync(Url + "/healthz").Result.IsSuccessStatusCode) break; }
            catch (AggregateException) { }
            if (sw.Elapsed > TimeSpan.FromSeconds(60) || _p.HasExited) throw new InvalidOperationException("cairn did not start");
            Thread.Sleep(50);
        }
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>The server's Unix socket, as the CLI names it.</summary>
    public string Socket => "unix:" + Path.Combine(DataDir, "cairn.sock");

    /// <summary>Runs the real CLI against the HTTP listener and returns its wall time.</summary>
    public TimeSpan Cli(params string[] args) => CliVia(Url, args);

    /// <summary>Runs the real CLI against <paramref name="server"/> (a URL or <see cref="Socket"/>) and returns its wall time.</summary>
    public static TimeSpan CliVia(string server, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(CairnDll);
        foreach (var a in args.Concat(["--server", server])) psi.ArgumentList.Add(a);
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        sw.Stop();
        if (p.ExitCode != 0) throw new InvalidOperationException($"cairn {string.Join(' ', args)} failed: {err.Result}");
        return sw.Elapsed;
    }

    public void Dispose()
    {
        if (!_p.HasExited) { _p.Kill(); _p.WaitForExit(); }
        _p.Dispose();
    }
}
