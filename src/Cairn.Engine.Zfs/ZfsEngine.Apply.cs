using Cairn.Core;
using Cairn.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Cairn.Engine.Zfs;

public sealed partial class ZfsEngine
{
    /// <summary>What one batch has to finish after its commands ran.</summary>
    private sealed class Run
    {
        /// <summary>Datasets and snapshots made or changed whose read-only figures (guid, used, …) are still to be read.</summary>
        public readonly HashSet<string> ToFetch = new(StringComparer.Ordinal);
        /// <summary>Pools whose inventory may be wrong after an unexpected failure: re-read at the end.</summary>
        public readonly HashSet<string> Stale = new(StringComparer.Ordinal);
        public readonly Lock Lock = new();

        public void Fetch(string name) { lock (Lock) ToFetch.Add(name); }
        public void MarkStale(string pool) { lock (Lock) Stale.Add(pool); }
    }

    /// <summary>What an op made, to be turned into its result once fetched.</summary>
    private readonly record struct Outcome(string? Dataset = null, string? Snapshot = null, IReadOnlyList<Guid>? Removed = null);

    /// <inheritdoc/>
    /// <remarks>
    /// ZFS has no multi-command transaction, so a batch is not atomic (no <see cref="EngineCapabilities.AtomicBatches"/>):
    /// each op is one or two commands and fails alone. Independent ops run up to <see cref="ZfsEngineOptions.Concurrency"/>
    /// at once; the guid and space figures of everything made are read at the end with one <c>zfs get</c> for many
    /// names, instead of one per op.
    /// </remarks>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2025", Justification = "Task.WhenAll awaits every task that uses the gate before it is disposed, and RunOne never throws synchronously.")]
    public async ValueTask<IReadOnlyList<EngineOpResult>> ApplyAsync(IReadOnlyList<EngineOp> ops, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(ops);
        lock (_lock) ObjectDisposedException.ThrowIf(_disposed, this);
        var run = new Run();
        var deps = Batch.Dependencies(ops);
        // An op that a later op waits for reads its figures at once: the later op may need them (the ids a destroy
        // removes); every other op leaves them to the one fetch at the end.
        var needed = new bool[ops.Count];
        foreach (var d in deps) foreach (var i in d) needed[i] = true;

        using var gate = new SemaphoreSlim(Math.Max(1, _options.Concurrency));
        var tasks = new Task<(Outcome, CairnException?)>[ops.Count];
        for (int j = 0; j < ops.Count; j++)
        {
            var waitFor = deps[j].Select(i => (Task)tasks[i]).ToArray();
            tasks[j] = RunOne(ops[j], waitFor, needed[j], gate, run, ct);
        }
        var outcomes = await Task.WhenAll(tasks);

        foreach (var pool in run.Stale) await EnsurePoolAsync(pool, force: true, ct);
        if (run.ToFetch.Count > 0) await FetchAsync(run.ToFetch, ct);

        var results = new EngineOpResult[ops.Count];
        lock (_lock)
        {
            for (int j = 0; j < ops.Count; j++)
            {
                var (o, error) = outcomes[j];
                if (error is not null) { results[j] = new EngineOpResult(ops[j], error); continue; }
                DatasetInfo? di = o.Dataset is { } dn && _datasets.TryGetValue(dn, out var d) && d.Complete ? d.ToInfo() : null;
                SnapshotInfo? si = null;
                if (o.Snapshot is { } sn && FindSnapshotLocked(sn) is { Complete: true } s) si = s.ToInfo(ClonesOf(s.FullName));
                results[j] = new EngineOpResult(ops[j], null, di, si, o.Removed);
            }
        }
        return results;
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031", Justification = "Every failure becomes this op's outcome (Batch.AsCairn); the batch goes on.")]
    private async Task<(Outcome, CairnException?)> RunOne(EngineOp op, Task[] waitFor, bool fetchNow, SemaphoreSlim gate, Run run, CancellationToken ct)
    {
        await Task.Yield(); // the loop that starts every op must not run the first ones' commands itself
        if (waitFor.Length > 0) await Task.WhenAll(waitFor);
        await gate.WaitAsync(ct);
        try
        {
            var outcome = await Execute(op, run, ct);
            if (fetchNow)
            {
                var names = new List<string>();
                if (outcome.Dataset is { } d) names.Add(d);
                if (outcome.Snapshot is { } s) names.Add(s);
                if (names.Count > 0) await FetchAsync(names, ct);
            }
            return (outcome, null);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
        catch (Exception e)
        {
            var error = Batch.AsCairn(e);
            if ((error.Kind == ErrorKind.Internal || e is ZfsCommandException) && op is not null)
            {
                var pool = Batch.NamesOf(op).Writes.FirstOrDefault()?.Split('/', '@')[0];
                if (pool is not null)
                {
                    run.MarkStale(pool);
                    if (_log is not null) Log.Unexpected(_log, op.GetType().Name, pool, error.Message);
                }
            }
            return (default, error);
        }
        finally { gate.Release(); }
    }

    private Task<Outcome> Execute(EngineOp op, Run run, CancellationToken ct) => op switch
    {
        EngineOp.CreateVolume o => DoCreateVolume(o.Name, o.Size, o.Parents, o.Properties, run, ct),
        EngineOp.CreateFolder o => DoCreateFolder(o.Name, o.Parents, run, ct),
        EngineOp.CreateSnapshot o => DoSnapshot(o.Dataset, o.Name, run, ct),
        EngineOp.CloneSnapshot o => DoClone(o.Source, o.Snapshot, o.Target, o.Parents, o.Properties, run, ct),
        EngineOp.Destroy o => DoDestroy(o.Name, o.Recursive, run, ct),
        EngineOp.DestroySnapshot o => DoDestroySnapshot(o.Dataset, o.Name, run, ct),
        EngineOp.Resize o => DoResize(o.Name, o.Size, run, ct),
        EngineOp.Rename o => DoRename(o.Name, o.NewName, o.Parents, run, ct),
        EngineOp.RenameSnapshot o => DoRenameSnapshot(o.Dataset, o.Name, o.NewName, run, ct),
        EngineOp.Rollback o => DoRollback(o.Dataset, o.Snapshot, o.DestroyLater, run, ct),
        EngineOp.Promote o => DoPromote(o.Name, run, ct),
        null => throw CairnException.Invalid("operation is null"),
        _ => throw new CairnException(ErrorKind.NotSupported, $"operation {op.GetType().Name} is not supported"),
    };

    /// <summary>Runs one op through the batch path and returns its result or throws its error.</summary>
    private async ValueTask<EngineOpResult> ApplyOne(EngineOp op, CancellationToken ct)
    {
        var r = (await ApplyAsync([op], ct))[0];
        if (r.Error is not null) throw r.Error;
        return r;
    }

    /// <summary>
    /// Reads the figures of many datasets and snapshots with one <c>zfs get</c> per 200 names (zfs(8) get accepts any
    /// number of names; it reports a missing one on stderr and prints the rest).
    /// </summary>
    private async Task FetchAsync(IEnumerable<string> names, CancellationToken ct)
    {
        foreach (var chunk in names.Chunk(200))
        {
            var args = new List<string>(chunk.Length + 8) { "get", "-H", "-p", "-o", "name,property,value,source", FigureProps };
            args.AddRange(chunk);
            var r = await _cli.Zfs(args, ct, bigOutput: true);
            if (!r.Succeeded && r.StdOut.Length == 0) throw ZfsCli.Map(r, "zfs get");
            lock (_lock)
            {
                foreach (var (name, props) in ZfsParser.Parse(r.StdOut))
                {
                    if (name.Contains('@')) { if (FindSnapshotLocked(name) is { } s) ZfsParser.Apply(s, props, allProperties: false); }
                    else if (_datasets.TryGetValue(name, out var d)) ZfsParser.Apply(d, props, allProperties: false);
                }
            }
        }
    }

    private ZSnapshot? FindSnapshotLocked(string fullName)
    {
        var at = fullName.IndexOf('@');
        if (at < 0 || !_datasets.TryGetValue(fullName[..at], out var d)) return null;
        var name = fullName[(at + 1)..];
        return d.Snapshots.Find(s => s.Name == name);
    }
}
