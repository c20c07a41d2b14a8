using Cairn.Core;
using Cairn.Core.Processes;
using Microsoft.Extensions.Logging;

namespace Cairn.Engine.Zfs;

/// <summary>Runs <c>zfs</c> and <c>zpool</c> through the process runner (argument arrays, never a shell) and maps their errors.</summary>
internal sealed class ZfsCli(IProcessRunner runner, ZfsEngineOptions options, ILogger? log) : IDisposable
{
    /// <summary>Commands run so far (for tests and benchmarks: what a batch cost in commands).</summary>
    public long Commands => Interlocked.Read(ref _commands);
    private long _commands;
    private readonly SemaphoreSlim _mountGate = new(1, 1);

    public Task<ProcessResult> Zfs(IReadOnlyList<string> args, CancellationToken ct, bool bigOutput = false) => Run(options.Zfs, args, bigOutput, ct);

    public Task<ProcessResult> Zpool(IReadOnlyList<string> args, CancellationToken ct) => Run(options.Zpool, args, false, ct);

    private Task<ProcessResult> Run(string program, IReadOnlyList<string> args, bool bigOutput, CancellationToken ct)
    {
        Interlocked.Increment(ref _commands);
        var spec = new ProcessSpec(program, args)
        {
            Timeout = options.CommandTimeout,
            // A whole-pool listing is ~45 bytes a property line: 10,000 datasets exceed the default 4 MiB cap.
            MaxCapture = bigOutput ? int.MaxValue / 2 : 1 << 20,
        };
        return runner.RunAsync(spec, ct);
    }

    /// <summary>Runs a mutating zfs command; throws a mapped <see cref="CairnException"/> when it fails.</summary>
    public async Task Mutate(IReadOnlyList<string> args, string what, CancellationToken ct, bool retryBusy = false)
    {
        var pause = options.BusyBackoff;
        bool gated = options.SerialMounts && MountsOrUnmounts(args);
        for (int attempt = 0; ; attempt++)
        {
            ProcessResult r;
            if (gated)
            {
                await _mountGate.WaitAsync(ct);
                try { r = await Zfs(args, ct); }
                finally { _mountGate.Release(); }
            }
            else r = await Zfs(args, ct);
            if (r.Succeeded) return;
            // zfs-fuse answers "dataset is busy" to a destroy for a while after a mount (lab notes: about half of the
            // destroys right after a mount, all succeeding on retry).
            if (retryBusy && IsBusy(r) && attempt < options.BusyRetries)
            {
                if (log is not null) Log.BusyRetry(log, what, attempt + 1, pause.TotalMilliseconds);
                await Task.Delay(pause, ct);
                pause *= 2;
                continue;
            }
            throw Map(r, what);
        }
    }

    /// <summary>Whether a zfs command mounts or unmounts a filesystem (see <see cref="ZfsEngineOptions.SerialMounts"/>).</summary>
    public static bool MountsOrUnmounts(IReadOnlyList<string> args) => args.Count > 1 && args[0] switch
    {
        "create" or "clone" => !args.Contains("mountpoint=none"),
        "mount" or "unmount" or "rollback" => true,
        "rename" => !args[^1].Contains('@', StringComparison.Ordinal),
        "inherit" or "set" => args.Any(a => a == "mountpoint" || a.StartsWith("mountpoint=", StringComparison.Ordinal)),
        "destroy" => !args[^1].Contains('@', StringComparison.Ordinal),
        _ => false,
    };

    public void Dispose() => _mountGate.Dispose();

    public static bool IsBusy(ProcessResult r) => r.StdErr.Contains("busy", StringComparison.Ordinal);

    /// <summary>A failed command as a Cairn error: the kind from ZFS's message, the text naming what was attempted.</summary>
    public static ZfsCommandException Map(ProcessResult r, string what)
    {
        var err = ProcessResult.LastLine(r.StdErr.Split("\nuse '-")[0]) ?? ProcessResult.LastLine(r.StdOut) ?? $"exit code {r.ExitCode}";
        var kind = r.TimedOut ? ErrorKind.Internal
            : Has(r, "does not exist") || Has(r, "no such pool") ? ErrorKind.NotFound
            : Has(r, "already exists") ? ErrorKind.AlreadyExists
            : Has(r, "has children") || Has(r, "dependent clones") || Has(r, "busy") ? ErrorKind.Conflict
            : Has(r, "out of space") || Has(r, "no space") ? ErrorKind.NoSpace
            : Has(r, "permission denied") ? ErrorKind.Forbidden
            : Has(r, "not implemented") || Has(r, "not supported") ? ErrorKind.NotSupported
            : ErrorKind.Internal;
        // zfs-fuse 0.7 mounts at most about 1,000 filesystems; the next mount fails with EIO and a hint about the
        // FUSE module that sends the operator the wrong way.
        if (Has(r, "cannot mount") && Has(r, "FUSE module"))
        {
            kind = ErrorKind.NoSpace;
            err = "zfs-fuse could not mount another filesystem (it mounts at most about 1,000; unmounted clones do not count)";
        }
        return new ZfsCommandException(kind, $"{what}: {(r.TimedOut ? r.Describe() : err)}");
    }

    private static bool Has(ProcessResult r, string text) => r.StdErr.Contains(text, StringComparison.OrdinalIgnoreCase);
}

/// <summary>
/// A zfs or zpool command failed. Unlike a refusal from the inventory's own checks, this means ZFS disagreed with what the
/// inventory believed (or something else went wrong), so the pool is re-read after the batch.
/// </summary>
public sealed class ZfsCommandException(ErrorKind kind, string message) : CairnException(kind, message);
