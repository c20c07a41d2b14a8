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
        foreach (var item in batch)
        {
            if (item.JobId != _record.Id) throw new ArgumentException($"item {item.Index} belongs to job {item.JobId}, not {_record.Id}", nameof(items));
        }
        Func<JobRecord, JobRecord>? change = updateData is null && progress is null
            ? null
            : r => r with
            {
                Data = updateData is null ? r.Data : Apply(r.Data, updateData),
                Progress = progress is { } p ? Math.Clamp(p, 0, 1) : r.Progress,
            };
        return Write(change, batch);
    }

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

    internal void MarkCancelRequested()
    {
        lock (_gate) _record = _record with { CancelRequested = true };
    }

    internal Task StartAsync(string message) => Write(r => r, null, ("info", message));

    internal IReadOnlyList<JobItem> FailedItems()
    {
        lock (_gate) return _items.Values.Where(i => i.State == ItemState.Failed).OrderBy(i => i.Index).ToArray();
    }

    /// <summary>Records the final state; unfinished items become Skipped. Returns the final record.</summary>
    internal async Task<JobRecord> FinishAsync(JobState state, string? error)
    {
        JobRecord final;
        Task write;
        lock (_gate)
        {
            var now = DateTimeOffset.UtcNow;
            var skipped = state == JobState.Succeeded ? null : $"job {state.ToString().ToLowerInvariant()}";
            var unfinished = skipped is null
                ? []
                : _items.Values.Where(i => i.State is ItemState.Pending or ItemState.Running)
                    .Select(i => i with { State = ItemState.Skipped, Error = i.Error ?? skipped, Finished = now }).ToArray();
            foreach (var i in unfinished) _items[i.Index] = i;
            _record = _record with
            {
                State = state,
                Error = error,
                Finished = now,
                Progress = state == JobState.Succeeded ? 1 : _record.Progress,
            };
            final = Clone(_record);
            _exposed = Clone(_record);
            var stored = Clone(_record);
            var line = error is null ? state.ToString().ToLowerInvariant() : $"{state.ToString().ToLowerInvariant()}: {error}";
            write = _store.WriteAsync(w =>
            {
                w.Put(stored);
                foreach (var i in unfinished) w.Put(i);
                w.AppendLog(stored.Id, state == JobState.Succeeded ? "info" : "error", line);
            }, CancellationToken.None);
        }
        await write;
        return final;
    }

    /// <summary>Shutdown stopped the handler: the job goes back to Pending and resumes at the next start.</summary>
    internal Task InterruptAsync() =>
        Write(r => r with { State = JobState.Pending }, null, ("warning", "interrupted by shutdown; resumes at the next start"));

    // ---- plumbing ----

    private Task Write(Func<JobRecord, JobRecord>? change, IReadOnlyList<JobItem>? items = null, (string Level, string Message)? log = null)
    {
        lock (_gate)
        {
            JobRecord? stored = null;
            if (change is not null)
            {
                _record = change(_record);
                stored = Clone(_record);
                _exposed = Clone(_record);
            }
            if (items is not null)
            {
                foreach (var i in items) _items[i.Index] = i;
            }
            var id = _record.Id;
            // Enqueued under the lock, so writes reach the store in the order the changes were made.
            return _store.WriteAsync(w =>
            {
                if (stored is not null) w.Put(stored);
                if (items is not null)
                {
                    foreach (var i in items) w.Put(i);
                }
                if (log is { } l) w.AppendLog(id, l.Level, l.Message);
            }, CancellationToken.None);
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
