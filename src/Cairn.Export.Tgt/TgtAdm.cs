using System.Globalization;
using Cairn.Core;
using Cairn.Core.Processes;

namespace Cairn.Export.Tgt;

/// <summary>
/// tgtadm commands against one tgtd (<c>-C PORT</c>), as argument arrays through the process runner. CHAP secrets go
/// only into <see cref="ProcessSpec.Secrets"/>-redacted commands: the runner's logs, errors and output show <c>***</c>.
/// </summary>
internal sealed class TgtAdm(TgtOptions options, IProcessRunner runner)
{
    public int Port => options.ControlPort;

    public async Task<ProcessResult> RunAsync(string mode, string op, IEnumerable<string> args, CancellationToken ct, string? secret = null)
    {
        string[] argv = ["-C", Port.ToString(CultureInfo.InvariantCulture), "--lld", "iscsi", "--mode", mode, "--op", op, .. args];
        var spec = new ProcessSpec(options.TgtAdm, argv) { Timeout = options.CommandTimeout, Secrets = secret is null ? null : [secret] };
        return await runner.RunAsync(spec, ct);
    }

    /// <summary>Runs a command that must succeed; <paramref name="tolerated"/> names tgtadm messages that mean "already so" (idempotent retries).</summary>
    public async Task MustAsync(string mode, string op, IEnumerable<string> args, CancellationToken ct, string? tolerated = null, string? secret = null)
    {
        var r = await RunAsync(mode, op, args, ct, secret);
        if (r.Succeeded) return;
        if (tolerated is not null && !r.TimedOut && (r.StdErr + r.StdOut).Contains(tolerated, StringComparison.Ordinal)) return;
        throw new CairnException(ErrorKind.Internal, "tgt: " + r.Describe() + Hint(r));
    }

    public async Task<IReadOnlyList<TgtTarget>> ShowTargetsAsync(CancellationToken ct)
    {
        var r = await RunAsync("target", "show", [], ct);
        if (!r.Succeeded) throw new CairnException(ErrorKind.Internal, "tgt: " + r.Describe() + Hint(r));
        return TgtParser.ParseTargets(r.StdOut);
    }

    public async Task<IReadOnlyList<string>> ShowAccountsAsync(CancellationToken ct)
    {
        var r = await RunAsync("account", "show", [], ct);
        if (!r.Succeeded) throw new CairnException(ErrorKind.Internal, "tgt: " + r.Describe() + Hint(r));
        return TgtParser.ParseAccounts(r.StdOut);
    }

    private string Hint(ProcessResult r) =>
        (r.StdErr + r.StdOut).Contains("tgt daemon", StringComparison.Ordinal)
            ? $" (is tgtd running with -C {Port}? start it with: tgtd -f -C {Port} --iscsi portal=ADDR:PORT)"
            : "";

    public static string N(int n) => n.ToString(CultureInfo.InvariantCulture);
}
