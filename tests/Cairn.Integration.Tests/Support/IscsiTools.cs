using System.Diagnostics;
using Cairn.TestSupport;

namespace Cairn.Integration.Tests.Support;

/// <summary>Runs libiscsi's command-line tools (Debian libiscsi-bin) against a server.</summary>
public static class IscsiTools
{
    public static async Task<CliResult> RunAsync(string tool, params string[] args)
    {
        var path = ExternalTool.Require(tool, "libiscsi-bin");
        var psi = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await p.WaitForExitAsync(cts.Token);
        return new CliResult(p.ExitCode, await so, await se);
    }

    /// <summary>Targets that SendTargets discovery shows <paramref name="initiator"/>.</summary>
    public static async Task<IReadOnlyList<string>> DiscoverAsync(int port, string initiator)
    {
        var r = await RunAsync("iscsi-ls", "-i", initiator, $"iscsi://127.0.0.1:{port}");
        return r.Stdout.Split('\n').Where(l => l.StartsWith("Target:", StringComparison.Ordinal))
            .Select(l => l["Target:".Length..].Split(' ')[0]).ToList();
    }
}
