using Cairn.TestSupport;

namespace Cairn.Iscsi.Tests.Target;

/// <summary>Runs one of libiscsi's command-line tools with a timeout.</summary>
internal static class ExternalPeer
{
    public static async Task<(int Exit, string Output)> RunAsync(string tool, int timeoutSeconds, params string[] args)
    {
        var path = ExternalTool.Require(tool, "libiscsi-bin");
        var r = await Commands.RunAsync(path, args, TimeSpan.FromSeconds(timeoutSeconds));
        return (r.Exit(), r.Output());
    }
}
