using Cairn.TestSupport;

namespace Cairn.Integration.Tests.Support;

/// <summary>Runs libiscsi's command-line tools (Debian libiscsi-bin) against a server.</summary>
public static class IscsiTools
{
    public static async Task<CliResult> RunAsync(string tool, params string[] args)
    {
        var path = ExternalTool.Require(tool, "libiscsi-bin");
        var r = await Commands.RunAsync(path, args);
        Assert.False(r.TimedOut, $"{tool} timed out: {r.Output()}");
        return new CliResult(r.ExitCode, r.StdOut, r.StdErr);
    }

    /// <summary>Targets that SendTargets discovery shows <paramref name="initiator"/>.</summary>
    public static async Task<IReadOnlyList<string>> DiscoverAsync(int port, string initiator)
    {
        var r = await RunAsync("iscsi-ls", "-i", initiator, $"iscsi://127.0.0.1:{port}");
        return r.Stdout.Split('\n').Where(l => l.StartsWith("Target:", StringComparison.Ordinal))
            .Select(l => l["Target:".Length..].Split(' ')[0]).ToList();
    }
}
