using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Cairn.TestSupport;

/// <summary>
/// A real <c>cairn serve</c> process (the built cairn.dll next to the calling assembly) and the one "wait until it
/// answers" loop that the tests' and the bench's server helpers share. It keeps the server's output for failure
/// messages. It asserts nothing, so the bench can use it too.
/// </summary>
public sealed class CairnServer : IAsyncDisposable
{
    private readonly Process _proc;
    private readonly StringBuilder _log = new();

    private CairnServer(Process proc) => _proc = proc;

    /// <summary>The built cairn.dll next to the running assembly.</summary>
    public static string CairnDll => Path.Combine(AppContext.BaseDirectory, "cairn.dll");

    /// <summary>A loopback port that was free a moment ago.</summary>
    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>Everything the server printed so far.</summary>
    public string Log { get { lock (_log) return _log.ToString(); } }

    public bool HasExited => _proc.HasExited;

    public int ExitCode => _proc.ExitCode;

    /// <summary>Starts <c>dotnet cairn.dll ARGS</c> (environment: <paramref name="environment"/> on top of ours; a null
    /// value removes a variable) without waiting for it.</summary>
    public static CairnServer Start(IEnumerable<string> args, IEnumerable<KeyValuePair<string, string?>>? environment = null) =>
        StartProgram("dotnet", [CairnDll, .. args], environment);

    /// <summary>The process id of the server (the same after it re-executes itself).</summary>
    public int Id => _proc.Id;

    /// <summary>Starts <paramref name="program"/> ARGS (the built <c>cairn</c> apphost, or <c>dotnet run …</c> as the README
    /// says) in <paramref name="workingDirectory"/> (default ours) without waiting for it.</summary>
    public static CairnServer StartProgram(string program, IEnumerable<string> args, IEnumerable<KeyValuePair<string, string?>>? environment = null, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (workingDirectory is not null) psi.WorkingDirectory = workingDirectory;
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? [])
            if (v is null) psi.Environment.Remove(k); else psi.Environment[k] = v;
        var proc = Process.Start(psi) ?? throw new InvalidOperationException("could not start cairn");
        var s = new CairnServer(proc);
        proc.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (s._log) s._log.AppendLine(e.Data); };
        proc.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (s._log) s._log.AppendLine(e.Data); };
        proc.BeginOutputReadLine();
        proc.BeginErrorReadLine();
        return s;
    }

    /// <summary>Polls <paramref name="ready"/> until it answers true; throws with the server's output when the server
    /// exits first or <paramref name="timeout"/> (default 60 s) passes.</summary>
    public async Task WaitReadyAsync(Func<Task<bool>> ready, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            if (_proc.HasExited) throw new InvalidOperationException($"cairn exited with {_proc.ExitCode}:\n{Log}");
            if (await ready()) return;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"cairn did not become ready:\n{Log}");
            await Task.Delay(50);
        }
    }

    /// <summary>Waits until <c>GET URL/healthz</c> answers 200.</summary>
    public async Task WaitHealthyAsync(Uri url, TimeSpan? timeout = null)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        await WaitReadyAsync(async () =>
        {
            try
            {
                using var r = await http.GetAsync(new Uri(url, "/healthz"));
                return r.StatusCode == HttpStatusCode.OK;
            }
            catch (HttpRequestException) { return false; }
            catch (TaskCanceledException) { return false; }
        }, timeout);
    }

    /// <summary>Waits until the server has printed <paramref name="text"/> (its output arrives a moment after the event
    /// that caused it); false when it has not within <paramref name="timeout"/> (default 60 s) or the server exited.</summary>
    public async Task<bool> WaitForLogAsync(string text, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (!Log.Contains(text, StringComparison.Ordinal))
        {
            if (_proc.HasExited || DateTime.UtcNow > deadline) return Log.Contains(text, StringComparison.Ordinal);
            await Task.Delay(20);
        }
        return true;
    }

    /// <summary>SIGKILL: no chance to flush or clean up.</summary>
    public void Kill()
    {
        if (!_proc.HasExited) _proc.Kill(entireProcessTree: false);
        _proc.WaitForExit();
    }

    /// <summary>SIGTERM and wait for a clean exit; SIGKILL after <paramref name="grace"/> (default 30 s).</summary>
    public async Task StopAsync(TimeSpan? grace = null)
    {
        if (_proc.HasExited) return;
        await Commands.RunAsync("kill", ["-TERM", _proc.Id.ToString(CultureInfo.InvariantCulture)]);
        using var cts = new CancellationTokenSource(grace ?? TimeSpan.FromSeconds(30));
        try { await _proc.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { Kill(); }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _proc.Dispose();
    }
}
