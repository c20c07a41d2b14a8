using System.Diagnostics;
using System.Globalization;
using Cairn.TestSupport;

namespace Cairn.Bench;

/// <summary>
/// tgtd (Debian's <c>tgt</c>) in the foreground on its own control port and a free 127.0.0.1 portal, serving one
/// file as LUN 1 of one target that any initiator may use (LUN 0 is tgtd's controller). Killed on dispose.
/// </summary>
internal sealed class TgtdProcess : IDisposable
{
    private readonly Process _p;
    private readonly int _control;
    public int Port { get; }
    public string Iqn { get; }
    public int Pid => _p.Id;

    /// <summary>tgtd's control port (<c>tgtadm -C N</c>).</summary>
    public int ControlPort => _control;

    /// <summary>Starts tgtd; with a <paramref name="backingFile"/>, also one open target on it (tid 1, LUN 1).</summary>
    public TgtdProcess(string? backingFile, string iqn)
    {
        Iqn = iqn;
        Port = ServerProcess.FreePort();
        // A control port nobody else uses on this machine (tgtd's socket is /var/run/tgtd/socket.N).
        var rnd = new Random();
        do _control = rnd.Next(1000, 30000);
        while (File.Exists($"/var/run/tgtd/socket.{_control}") || File.Exists($"/var/run/tgtd/socket.{_control}.lock"));
        var psi = new ProcessStartInfo("tgtd") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-f", "-C", _control.ToString(CultureInfo.InvariantCulture), "--iscsi", $"portal=127.0.0.1:{Port}" }) psi.ArgumentList.Add(a);
        _p = Process.Start(psi) ?? throw new InvalidOperationException("tgtd did not start");
        _p.OutputDataReceived += (_, _) => { };
        _p.ErrorDataReceived += (_, _) => { };
        _p.BeginOutputReadLine();
        _p.BeginErrorReadLine();
        try
        {
            var sw = Stopwatch.StartNew();
            while (Adm(false, "--op", "show", "--mode", "target") != 0)
            {
                if (sw.Elapsed > TimeSpan.FromSeconds(15) || _p.HasExited) throw new InvalidOperationException("tgtd did not answer tgtadm");
                Thread.Sleep(100);
            }
            if (backingFile is not null)
            {
                Adm(true, "--op", "new", "--mode", "target", "--tid", "1", "-T", iqn);
                Adm(true, "--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "-b", backingFile);
                Adm(true, "--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL");
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>
    /// Raises tgtd's login offers to what Cairn offers by default (256 KiB segments, InitialR2T=No, 256 KiB first
    /// burst, 1 MiB bursts), so a second write comparison separates protocol settings from implementation.
    /// </summary>
    public void Tune()
    {
        foreach (var (k, v) in new[] { ("MaxRecvDataSegmentLength", "262144"), ("MaxXmitDataSegmentLength", "262144"), ("InitialR2T", "No"),
                     ("FirstBurstLength", "262144"), ("MaxBurstLength", "1048576") })
            Adm(true, "--op", "update", "--mode", "target", "--tid", "1", "--name", k, "--value", v);
    }

    /// <summary>Adds a target with one LUN on <paramref name="backingFile"/> (for the per-target memory figure).</summary>
    public void AddTarget(int tid, string iqn, string backingFile)
    {
        var t = tid.ToString(CultureInfo.InvariantCulture);
        Adm(true, "--op", "new", "--mode", "target", "--tid", t, "-T", iqn);
        Adm(true, "--op", "new", "--mode", "logicalunit", "--tid", t, "--lun", "1", "-b", backingFile);
        Adm(true, "--op", "bind", "--mode", "target", "--tid", t, "-I", "ALL");
    }

    /// <summary>Runs tgtadm against this tgtd; with <paramref name="check"/>, a failure throws.</summary>
    public int Adm(bool check, params string[] args)
    {
        var r = Commands.RunAsync("tgtadm", new[] { "-C", _control.ToString(CultureInfo.InvariantCulture), "--lld", "iscsi" }.Concat(args), TimeSpan.FromSeconds(15))
            .GetAwaiter().GetResult();
        if (r.TimedOut) throw new InvalidOperationException("tgtadm hung");
        if (check && r.ExitCode != 0) throw new InvalidOperationException($"tgtadm {string.Join(' ', args)} failed: {r.StdErr.Trim()}");
        return r.ExitCode;
    }

    public void Dispose()
    {
        try
        {
            if (!_p.HasExited) { _p.Kill(); _p.WaitForExit(10000); }
        }
        catch (InvalidOperationException) { }
        _p.Dispose();
        foreach (var f in new[] { $"/var/run/tgtd/socket.{_control}", $"/var/run/tgtd/socket.{_control}.lock" })
            try { File.Delete(f); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
