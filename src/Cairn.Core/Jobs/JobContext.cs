using System.Text.Json.Nodes;
using Cairn.Core.State;

namespace Cairn.Core.Jobs;

/// <summary>
/// What a running job sees of itself. Every change is written to the state store before the returned task
/// completes (group commit keeps that cheap; batch item updates). Safe to call from concurrent item workers.
/// </summary>
public sealed class JobContext
{
    private readonly object _gate = new();
    private readonly IStateStore _store;
    private readonly Dictionary<int, JobItem> _items;
    private JobRecord _record; // owns the live Data object; the store and callers get clones
    private JobRecord _exposed;
    private readonly Dictionary<int, JobItem> _dirtyItems = [];
    private readonly List<(string Level, string Message)> _dirtyLogs = [];
    private bool _recordDirty;
    private bool _flushScheduled;

    internal JobContext(IStateStore store, JobRecord record, IReadOnlyList<JobItem> items, bool isResume, CancellationToken ct)
    {
        _store = store;
        _record = record;
        _exposed = Clone(record);
        _items = items.ToDictionary(i => i.Index);
        IsResume = isResume;
        CancellationToken = ct;
    }

    /// <summary>The job as last recorded (a copy: change it through this context's methods).</summary>
    public JobRecord Job
    {
        get
        {
            lock (_gate) return _exposed;
        }
    }

    /// <summary>True when an earlier attempt of this job ran (the process stopped or crashed while it ran).</summary>
    public bool IsResume { get; }

    /// <summary>Fires on cancellation or shutdown.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>The job's items as last recorded, by index.</summary>
    public IReadOnlyList<JobItem> Items
    {
        get
        {
            lock (_gate) return _items.Values.OrderBy(i => i.Index).ToArray();
        }
    }

    /// <summary>Item <paramref name="index"/> as last recorded, or null if the job has no such item.</summary>
    public JobItem? Item(int index)
    {
        lock (_gate) return _items.GetValueOrDefault(index);
    }

    /// <summary>Records the handler's status word (e.g. <c>start_creating_clones</c>).</summary>
    public Task SetPhaseAsync(string phase) => Write(r => r with { Phase = phase });

    /// <summary>Records progress, 0..1 (clamped).</summary>
    public Task SetProgressAsync(double progress)
    {
        if (double.IsNaN(progress)) throw new ArgumentOutOfRangeException(nameof(progress));
        return Write(r => r with { Progress = Math.Clamp(progress, 0, 1) });
    }

    /// <summary>Changes the job's <see cref="JobRecord.Data"/> (counters, resume state) and records it.</summary>
    public Task UpdateDataAsync(Action<JsonObject> update)
    {
        ArgumentNullException.ThrowIfNull(update);
        return Write(r => r with { Data = Apply(r.Data, update) });
    }

    /// <summary>
    /// Records a batch of item results in one write, optionally with a change to the job's data and its progress
    /// (so counters and the items they count are always consistent).
    /// </summary>
    public Task UpdateItemsAsync(IEnumerable<JobItem> items, Action<JsonObject>? updateData = null, double? progress = null)
    {
        ArgumentNullException.ThrowIfNull(items);
        var batch = items.ToArray();
        CheckOwned(batch);
        Func<JobRecord, JobRecord>? change = updateData is null && progress is null
            ? null
            : r => r with
            {
                Data = updateData is null ? r.Data : Apply(r.Data, updateData),
                Progress = progress is { } p ? Math.Clamp(p, 0, 1) : r.Progress,
            };
        return Write(change, batch);
    }

    /// <summary>
    /// Records item results without waiting for them to be durable: the change is written by the next flush, which
    /// this schedules at once, and one commit carries every change posted meanwhile. Item workers that run
    /// concurrently can post each result as it happens and pay no commit each. <see cref="FlushAsync"/>, any awaited
    /// update and the job's end make everything posted before them durable.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031", Justification = "A background write that fails leaves its changes dirty; the next awaited write retries and reports it.")]
    public void PostItems(IEnumerable<JobItem> items, Action<JsonObject>? updateData = null, double? progress = null)
    {
        ArgumentNullException.ThrowIfNull(items);
        var batch = items.ToArray();
        CheckOwned(batch);
        lock (_gate)
        {
            if (updateData is not null || progress is not null)
            {
                _record = _record with
                {
                    Data = updateData is null ? _record.Data : Apply(_record.Data, updateData),
                    Progress = progress is { } p ? Math.Clamp(p, 0, 1) : _record.Progress,
                };
                _exposed = Clone(_record);
                _recordDirty = true;
            }
            foreach (var i in batch)
            {
                _items[i.Index] = i;
                _dirtyItems[i.Index] = i;
            }
            if (_flushScheduled) return;
            _flushScheduled = true;
        }
        _ = Task.Run(async () =>
        {
            try
            {
                await Write(null);
            }
            catch (Exception)
            {
                // Write marked everything dirty again; the next awaited write or the job's end retries and reports it.
            }
        }, CancellationToken.None);
    }

    /// <summary>Completes when every change made so far (including <see cref="PostItems"/>) is durable.</summary>
    public Task FlushAsync() => Write(null);

    /// <summary>Appends a line to the job's log.</summary>
    public Task LogAsync(string level, string message) => Write(null, null, (level, message));

    /// <summary>
    /// Runs a named step, recording its start, end, error and timings in <see cref="JobRecord.Steps"/>. On resume a
    /// step already <see cref="ItemState.Done"/> is skipped.
    /// </summary>
    public async Task RunStepAsync(string name, Func<CancellationToken, Task> step)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(step);
        lock (_gate)
        {
            if (_record.Steps.Any(s => s.Name == name && s.State == ItemState.Done)) return;
        }
        var started = DateTimeOffset.UtcNow;
        await Write(r => r with { Steps = WithStep(r.Steps, new JobStep(name, ItemState.Running, started, null)) });
        try
        {
            await step(CancellationToken);
        }
        catch (Exception ex)
        {
            var failed = new JobStep(name, ItemState.Failed, started, DateTimeOffset.UtcNow, JobErrors.Describe(ex));
            await Write(r => r with { Steps = WithStep(r.Steps, failed) });
            throw;
        }
        var done = new JobStep(name, ItemState.Done, started, DateTimeOffset.UtcNow);
        await Write(r => r with { Steps = WithStep(r.Steps, done) });
    }

    // ---- engine side ----

    internal Task MarkCancelRequestedAsync() => Write(r => r with { CancelRequested = true }, null, ("info", "cancel requested"));

    internal void NoteCancelRequested()
    {
        lock (_gate) _record = _record with { CancelRequested = true };
    }

    internal Task StartAsync(string message) => Write(r => r, null, ("info", message));

    internal bool HasUnfinishedItems()
    {
        lock (_gate) return _items.Values.Any(i => i.State is ItemState.Pending or ItemState.Running);
    }

    /// <summary>How many items the job has.</summary>
    public int ItemCount
    {
        get
        {
            lock (_gate) return _items.Count;
        }
    }

    /// <summary>The items recorded as failed so far, by index (without copying the others).</summary>
    public IReadOnlyList<JobItem> FailedItems()
    {
        lock (_gate) return _items.Values.Where(i => i.State == ItemState.Failed).OrderBy(i => i.Index).ToArray();
    }

    /// <summary>Records the final state; unfinished items become Skipped. Returns the final record.</summary>
    internal async Task<JobRecord> FinishAsync(JobState state, string? error)
    {
        var name = state.ToString().ToLowerInvariant();
        JobRecord final = null!;
        await Write(r =>
        {
            var now = DateTimeOffset.UtcNow;
            if (state != JobState.Succeeded)
            {
                foreach (var i in _items.Values.Where(i => i.State is ItemState.Pending or ItemState.Running).ToArray())
                {
                    var skipped = i with { State = ItemState.Skipped, Error = i.Error ?? $"job {name}", Finished = now };
                    _items[i.Index] = skipped;
                    _dirtyItems[i.Index] = skipped;
                }
            }
            final = r with { State = state, Error = error, Finished = now, Progress = state == JobState.Succeeded ? 1 : r.Progress };
            return final;
        }, null, (state == JobState.Succeeded ? "info" : "error", error is null ? name : $"{name}: {error}"));
        return Clone(final);
    }

    /// <summary>Shutdown stopped the handler: the job goes back to Pending and resumes at the next start.</summary>
    internal Task InterruptAsync() =>
        Write(r => r with { State = JobState.Pending }, null, ("warning", "interrupted by shutdown; resumes at the next start"));

    // ---- plumbing ----

    // Changes are made in memory under the lock and marked dirty; each write's action, when the store runs it, flushes
    // whatever is dirty at that moment. So concurrent updates from item workers coalesce into one flush, writes may
    // reach the store in any order and the latest state still wins, and a caller's task completes only once a
    // transaction containing its change has committed.
    private async Task Write(Func<JobRecord, JobRecord>? change, IReadOnlyList<JobItem>? items = null, (string Level, string Message)? log = null)
    {
        lock (_gate)
        {
            if (change is not null)
            {
                _record = change(_record);
                _exposed = Clone(_record);
                _recordDirty = true;
            }
            if (items is not null)
            {
                foreach (var i in items)
                {
                    _items[i.Index] = i;
                    _dirtyItems[i.Index] = i;
                }
            }
            if (log is { } l) _dirtyLogs.Add(l);
        }
        try
        {
            await _store.WriteAsync(Flush, CancellationToken.None);
        }
        catch
        {
            // The transaction that carried these changes failed: write everything again with the next flush.
            lock (_gate)
            {
                _recordDirty = true;
                _flushScheduled = false;
                foreach (var i in _items.Values) _dirtyItems[i.Index] = i;
            }
            throw;
        }
    }

    private void Flush(IStateWriter w)
    {
        JobRecord? record;
        JobItem[] items;
        (string Level, string Message)[] logs;
        lock (_gate)
        {
            record = _recordDirty ? Clone(_record) : null;
            items = _dirtyItems.Count == 0 ? [] : [.. _dirtyItems.Values];
            logs = _dirtyLogs.Count == 0 ? [] : [.. _dirtyLogs];
            _recordDirty = false;
            _flushScheduled = false; // changes from now on need another flush
            _dirtyItems.Clear();
            _dirtyLogs.Clear();
        }
        if (record is not null) w.Put(record);
        foreach (var i in items) w.Put(i);
        foreach (var (level, message) in logs) w.AppendLog(_record.Id, level, message);
    }

    private void CheckOwned(JobItem[] items)
    {
        foreach (var item in items)
        {
            if (item.JobId != _record.Id) throw new ArgumentException($"item {item.Index} belongs to job {item.JobId}, not {_record.Id}", nameof(items));
        }
    }

    private static JsonObject Apply(JsonObject? data, Action<JsonObject> update)
    {
        data ??= [];
        update(data);
        return data;
    }

    private static JobRecord Clone(JobRecord r) => r with { Data = (JsonObject?)r.Data?.DeepClone() };

    private static List<JobStep> WithStep(IReadOnlyList<JobStep> steps, JobStep step)
    {
        var list = steps.ToList();
        var at = list.FindIndex(s => s.Name == step.Name);
        if (at >= 0) list[at] = step;
        else list.Add(step);
        return list;
    }
}
