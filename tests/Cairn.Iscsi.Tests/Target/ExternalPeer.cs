using System.Diagnostics;
using Cairn.TestSupport;

namespace Cairn.Iscsi.Tests.Target;

/// <summary>Runs one of libiscsi's command-line tools with a timeout.</summary>
internal static class ExternalPeer
{
    public static async Task<(int Exit, string Output)> RunAsync(string tool, int timeoutSeconds, params string[] args)
    {
        var path = ExternalTool.Require(tool, "libiscsi-bin");
        var psi = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            return (-1, "timeout\n" + await stdout + await stderr);
        }
        return (p.ExitCode, await stdout + await stderr);
    }
}
