using System.Diagnostics;
using Cairn.Core.Processes;
using Xunit;

namespace Cairn.TestSupport;

/// <summary>
/// A tgtd of the test class's own: a unique control port and a free loopback iSCSI port, started in the foreground
/// and polled until <c>tgtadm --mode sys --op show</c> answers; at the end it is killed (only this process, by
/// its id). <see cref="RestartAsync"/> kills it hard and starts it again on the same ports. Shared by the tgt exporter's
/// tests and the integration tests that run <c>cairn serve --exporter tgt</c>.
/// </summary>
public sealed class TgtdFixture : IAsyncLifetime
{
    private Process? _tgtd;

    public int ControlPort { get; } = Random.Shared.Next(10_000, 32_000);
    public int IscsiPort { get; private set; }
    public string Portal => $"127.0.0.1:{IscsiPort}";

    public async ValueTask InitializeAsync()
    {
        ExternalTool.Require("tgtd", "tgt");
        ExternalTool.Require("tgtadm", "tgt");
        IscsiPort = CairnServer.FreePort();
        await StartAsync();
    }

    private async Task StartAsync()
    {
        var psi = new ProcessStartInfo(ExternalTool.Find("tgtd")!) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-f", "-C", ControlPort.ToString(), "--iscsi", "portal=" + Portal }) psi.ArgumentList.Add(a);
        _tgtd = Process.Start(psi)!;
        _tgtd.OutputDataReceived += (_, _) => { };
        _tgtd.ErrorDataReceived += (_, _) => { };
        _tgtd.BeginOutputReadLine();
        _tgtd.BeginErrorReadLine();
        var sw = Stopwatch.StartNew();
        while (!await AnswersAsync())
        {
            if (_tgtd.HasExited) throw new InvalidOperationException($"tgtd -C {ControlPort} exited {_tgtd.ExitCode} at start");
            if (sw.Elapsed > TimeSpan.FromSeconds(60)) throw new InvalidOperationException($"tgtd -C {ControlPort} did not answer within 60 s");
            await Task.Delay(50);
        }
    }

    private async Task<bool> AnswersAsync() => (await TgtAdmAsync("--mode", "sys", "--op", "show")).Succeeded;

    /// <summary>Runs tgtadm against this tgtd.</summary>
    public Task<ProcessResult> TgtAdmAsync(params string[] args) =>
        ProcessRunner.Default.RunAsync(new ProcessSpec("tgtadm", ["-C", ControlPort.ToString(), .. args]) { Timeout = TimeSpan.FromSeconds(30) });

    /// <summary>Deletes every target of this tgtd (<c>--force</c>: open sessions too), so that nothing holds the files
    /// of the LUNs (a zpool under them can then be destroyed).</summary>
    public async Task DeleteAllTargetsAsync()
    {
        var show = await TgtAdmAsync("--lld", "iscsi", "--mode", "target", "--op", "show");
        show.ThrowIfFailed();
        foreach (var line in show.StdOut.Split('\n'))
        {
            if (!line.StartsWith("Target ", StringComparison.Ordinal)) continue;
            var tid = line["Target ".Length..].Split(':')[0];
            (await TgtAdmAsync("--lld", "iscsi", "--mode", "target", "--op", "delete", "--force", "--tid", tid)).ThrowIfFailed();
        }
    }

    /// <summary>tgtd dies (SIGKILL, as in a crash) and a new one starts on the same ports, with no targets.</summary>
    public async Task RestartAsync()
    {
        _tgtd!.Kill();
        await _tgtd.WaitForExitAsync();
        _tgtd.Dispose();
        await StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_tgtd is null) return;
        // tgtd ignores SIGTERM while it has targets (and tgt 1.0.85 refuses `--mode system --op delete`); it is ours, so
        // SIGKILL, to this one process id only.
        try { _tgtd.Kill(); } catch (InvalidOperationException) { }
        await _tgtd.WaitForExitAsync();
        _tgtd.Dispose();
    }
}
