using Cairn.Core.Processes;
using Xunit;

namespace Cairn.TestSupport;

/// <summary>Runs libiscsi's command-line tools (Debian libiscsi-bin) against a target, as an initiator would.</summary>
public static class IscsiTools
{
    /// <summary>Runs <paramref name="tool"/> to its end (a timeout fails the test); a missing tool skips, or fails in CI.</summary>
    public static Task<ProcessResult> RunAsync(string tool, params string[] args) => RunAsync(tool, args, null);

    /// <summary>The same, with extra environment variables (libiscsi reads mutual CHAP from LIBISCSI_CHAP_TARGET_*).</summary>
    public static async Task<ProcessResult> RunAsync(string tool, string[] args, IReadOnlyDictionary<string, string?>? environment)
    {
        var path = ExternalTool.Require(tool, "libiscsi-bin");
        var r = await Commands.RunAsync(path, args, TimeSpan.FromSeconds(60), environment);
        Assert.False(r.TimedOut, $"{tool} timed out: {r.Output()}");
        return r;
    }

    /// <summary>Targets that SendTargets discovery on 127.0.0.1:<paramref name="port"/> shows <paramref name="initiator"/>.</summary>
    public static Task<IReadOnlyList<string>> DiscoverAsync(int port, string initiator) => DiscoverAsync($"127.0.0.1:{port}", initiator);

    /// <summary>Targets that SendTargets discovery on <paramref name="portal"/> (HOST:PORT) shows <paramref name="initiator"/>.</summary>
    public static async Task<IReadOnlyList<string>> DiscoverAsync(string portal, string initiator)
    {
        var r = await RunAsync("iscsi-ls", "-i", initiator, $"iscsi://{portal}");
        return [.. r.StdOut.Split('\n').Where(l => l.StartsWith("Target:", StringComparison.Ordinal)).Select(l => l["Target:".Length..].Split(' ')[0])];
    }

    /// <summary>
    /// READ CAPACITY(16) through <c>iscsi-readcapacity16</c> on an iscsi:// address: the LUN's size and logical block size, or null when the
    /// login or the command failed (refused initiator, wrong CHAP secret, no such LUN).
    /// </summary>
    public static async Task<(long Bytes, int BlockSize)?> CapacityAsync(string initiator, string address, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var r = await RunAsync("iscsi-readcapacity16", ["-i", initiator, address], environment);
        if (!r.Succeeded) return null;
        return (long.Parse(Field(r.StdOut, "Total size:")), int.Parse(Field(r.StdOut, "LOGICAL BLOCK LENGTH IN BYTES:")));
    }

    private static string Field(string output, string name) =>
        output.Split('\n').Single(l => l.TrimStart().StartsWith(name, StringComparison.Ordinal)).Trim()[name.Length..].Trim();

    /// <summary>An iscsi:// address (libiscsi's URL form), with one-way CHAP credentials when <paramref name="user"/> is given.</summary>
    public static string Address(string portal, string iqn, int lun, string? user = null, string? secret = null) =>
        $"iscsi://{(user is null ? "" : $"{user}%{secret}@")}{portal}/{iqn}/{lun}";

    /// <summary>The environment libiscsi's tools read the mutual CHAP credentials (the target's answer) from.</summary>
    public static Dictionary<string, string?> MutualChap(string user, string secret) =>
        new() { ["LIBISCSI_CHAP_TARGET_USERNAME"] = user, ["LIBISCSI_CHAP_TARGET_PASSWORD"] = secret };
}
