using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Cairn.Integration.Tests.Support;

/// <summary>
/// A real <c>cairn serve</c> process on ephemeral loopback ports, with helpers to run the real CLI against it,
/// stop it gracefully or kill it with SIGKILL.
/// </summary>
public sealed class CairnProcess : IAsyncDisposable
{
    private readonly Process _proc;
    private readonly StringBuilder _log = new();

    public string DataDir { get; }
    public int HttpPort { get; }
    public int IscsiPort { get; }
    public string Url => $"http://127.0.0.1:{HttpPort}";
    public string Log { get { lock (_log) return _log.ToString(); } }

    private CairnProcess(Process proc, string dataDir, int http, int iscsi)
    {
        _proc = proc;
        DataDir = dataDir;
        HttpPort = http;
        IscsiPort = iscsi;
    }

    /// <summary>The pools every test server declares (<c>CAIRN_POOLS</c>), unless a test sets its own.</summary>
    public const string DefaultPools = "tank,pool,img,d,p,c,k,conf,crash,j,t,x,na-jbod-02-p01";

    /// <summary>The built cairn.dll next to the test assembly.</summary>
    public static string CairnDll => Path.Combine(AppContext.BaseDirectory, "cairn.dll");

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>Starts a server on <paramref name="dataDir"/> (a new temp dir when null) and waits for /healthz.</summary>
    public static async Task<CairnProcess> StartAsync(string? dataDir = null, IEnumerable<string>? extraArgs = null, int? httpPort = null, int? iscsiPort = null, IDictionary<string, string>? env = null)
    {
        dataDir ??= TempDir.Create("cairn-it");
        int http = httpPort ?? FreePort(), iscsi = iscsiPort ?? FreePort();
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { CairnDll, "serve", "--data", dataDir, "--http", $"127.0.0.1:{http}", "--iscsi", $"127.0.0.1:{iscsi}" }.Concat(extraArgs ?? []))
            psi.ArgumentList.Add(a);
        // Pools exist only once created: the tests' servers declare the ones the tests use (as a deployment's config would).
        psi.Environment["CAIRN_POOLS"] = DefaultPools;
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        var proc = Process.Start(psi) ?? throw new InvalidOperationException("could not start cairn");
        var cp = new CairnProcess(proc, dataDir, http, iscsi);
        proc.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (cp._log) cp._log.AppendLine(e.Data); };
        proc.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (cp._log) cp._log.AppendLine(e.Data); };
        proc.BeginOutputReadLine();
        proc.BeginErrorReadLine();
        await cp.WaitReadyAsync(TimeSpan.FromSeconds(60));
        return cp;
    }

    private async Task WaitReadyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            if (_proc.HasExited) throw new InvalidOperationException($"cairn exited with {_proc.ExitCode}:\n{Log}");
            try
            {
                var r = await http.GetAsync(Url + "/healthz");
                if (r.StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            await Task.Delay(50);
        }
        throw new TimeoutException($"cairn did not become ready:\n{Log}");
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
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(CairnDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        psi.Environment.Remove("CAIRN_SERVER");
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        await p.WaitForExitAsync(cts.Token);
        return new CliResult(p.ExitCode, await so, await se);
    }

    /// <summary>SIGKILL: no chance to flush or clean up.</summary>
    public void Kill()
    {
        if (!_proc.HasExited) _proc.Kill(entireProcessTree: false);
        _proc.WaitForExit();
    }

    /// <summary>SIGTERM and wait for a clean exit.</summary>
    public async Task StopAsync()
    {
        if (_proc.HasExited) return;
        using (var kill = Process.Start("kill", ["-TERM", _proc.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await kill!.WaitForExitAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try { await _proc.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { Kill(); }
    }

    public bool HasExited => _proc.HasExited;

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _proc.Dispose();
    }
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
