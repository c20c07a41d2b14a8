using Cairn.Core.Processes;

namespace Cairn.TestSupport;

/// <summary>
/// Tests and benches run external commands (libiscsi tools, openssl, curl, du, tgtadm, zfs…) through the product's
/// one <see cref="ProcessRunner"/>: argument arrays, a timeout that kills the whole process tree, captured output.
/// </summary>
public static class Commands
{
    /// <summary>Runs <paramref name="program"/> to its end or its timeout (default 2 minutes).</summary>
    public static Task<ProcessResult> RunAsync(string program, IEnumerable<string> args, TimeSpan? timeout = null,
        IReadOnlyDictionary<string, string?>? environment = null, CancellationToken ct = default) =>
        ProcessRunner.Default.RunAsync(new ProcessSpec(program, [.. args])
        {
            Timeout = timeout ?? TimeSpan.FromMinutes(2),
            Environment = environment,
        }, ct);

    /// <summary>The same, blocking (for synchronous helpers and benches).</summary>
    public static ProcessResult Run(string program, params string[] args) => RunAsync(program, args).GetAwaiter().GetResult();

    /// <summary>Standard output then standard error, with a first line saying so when the command timed out.</summary>
    public static string Output(this ProcessResult r) => (r.TimedOut ? "timeout\n" : "") + r.StdOut + r.StdErr;

    /// <summary>The exit code, or -1 when the command timed out.</summary>
    public static int Exit(this ProcessResult r) => r.TimedOut ? -1 : r.ExitCode;
}
