using System.Text.Json.Nodes;
using Cairn.Core.State;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cairn.Core.Jobs;

/// <summary>
/// Durable jobs over an <see cref="IStateStore"/>: submission, bounded concurrency, conflict keys, cancellation,
/// retention, and recovery of jobs interrupted by a crash or restart. Usable directly (call <see cref="StartAsync"/>)
/// or hosted (<see cref="JobServiceCollectionExtensions.AddCairnJobs"/>). One engine per store.
/// </summary>
public sealed partial class JobEngine : IHostedService, IAsyncDisposable, IDisposable
{
    private readonly IStateStore _store;
    private readonly Dictionary<string, IJobHandler> _handlers;
    private readonly JobEngineOptions _options;
    private readonly ILogger _logger;

    /// <summary>Creates an engine; nothing runs until <see cref="StartAsync"/>.</summary>
    public JobEngine(IStateStore store, IEnumerable<IJobHandler> handlers, JobEngineOptions? options = null, ILogger<JobEngine>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(handlers);
        _store = store;
        _options = options ?? new JobEngineOptions();
        _options.Validate();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _handlers = new Dictionary<string, IJobHandler>(StringComparer.Ordinal);
        foreach (var h in handlers)
        {
            if (!_handlers.TryAdd(h.Type, h)) throw new ArgumentException($"two job handlers for type '{h.Type}'", nameof(handlers));
        }
    }

    /// <summary>Raised (on a pool thread) when a job reaches Succeeded, Failed or Cancelled.</summary>
    public event Action<JobRecord>? JobFinished;

    /// <summary>
    /// Records a new Pending job with one Pending item per key, and queues it. Returns once the job is durable.
    /// Jobs sharing any of <paramref name="conflictKeys"/> (compared case-insensitively) run one after the other, in
    /// submission order.
    /// </summary>
    /// <exception cref="CairnException">No handler is registered for <paramref name="type"/>.</exception>
    public async Task<JobRecord> SubmitAsync(string type, JsonNode request, IReadOnlyList<string>? itemKeys = null,
        string? initialPhase = null, IReadOnlyList<string>? conflictKeys = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(type);
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_handlers.ContainsKey(type)) throw CairnException.Invalid($"unknown job type '{type}'");
        var keys = conflictKeys is null || conflictKeys.Count == 0 ? null : conflictKeys.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var job = new JobRecord(Guid.CreateVersion7(), type, JobState.Pending, initialPhase, 0, DateTimeOffset.UtcNow,
            null, null, null, request.DeepClone(), null, [], 0, false, keys);
        var items = (itemKeys ?? []).Select((k, i) => new JobItem(job.Id, i, k, ItemState.Pending, null, null, null)).ToArray();
        await _store.WriteAsync(w =>
        {
            w.Put(job);
            foreach (var item in items) w.Put(item);
        }, ct);
        lock (_gate)
        {
            Enqueue(job);
            Pump();
        }
        return job;
    }

    /// <summary>The job, or null when unknown.</summary>
    public JobRecord? Get(Guid id) => _store.GetJob(id);

    /// <summary>Jobs, newest first.</summary>
    public IReadOnlyList<JobRecord> List(JobState? state = null, int limit = 100) => _store.ListJobs(state, limit);

    /// <summary>The job's items by index.</summary>
    public IReadOnlyList<JobItem> Items(Guid id) => _store.ListJobItems(id);

    /// <summary>Log lines after sequence number <paramref name="afterSeq"/>, oldest first.</summary>
    public IReadOnlyList<JobLogEntry> Logs(Guid id, long afterSeq = 0, int limit = 1000) => _store.ListJobLogs(id, afterSeq, limit);

    /// <summary>
    /// Cancels a job: a Pending job becomes Cancelled at once; a Running job gets CancelRequested, its token fires, and
    /// it becomes Cancelled when its handler stops. False when the job had already finished.
    /// </summary>
    /// <exception cref="CairnException">Unknown job.</exception>
    public async Task<bool> CancelAsync(Guid id, CancellationToken ct = default)
    {
        RunningJob? running;
        lock (_gate)
        {
            if (_running.TryGetValue(id, out running))
            {
                running.RequestCancel();
            }
            else
            {
                RemoveQueued(id);
            }
        }
        if (running is not null)
        {
            if (running.Context is { } ctx) await ctx.MarkCancelRequestedAsync();
            try
            {
                await running.Cts.CancelAsync();
            }
            catch (ObjectDisposedException)
            {
                // The job finished meanwhile.
            }
            return true;
        }
        var job = _store.GetJob(id) ?? throw CairnException.NotFound($"unknown job {id}");
        if (job.State is not (JobState.Pending or JobState.Running)) return false;
        // Not queued or running here (engine not started, or a stale Running record): finish it directly.
        var final = await FinishDirectAsync(job with { CancelRequested = true }, JobState.Cancelled, "cancelled", ct);
        Notify(final);
        return true;
    }

    /// <summary>Completes with the job's final record when it has finished (at once when it already has).</summary>
    /// <exception cref="CairnException">Unknown job.</exception>
    public async Task<JobRecord> WaitAsync(Guid id, CancellationToken ct = default)
    {
        TaskCompletionSource<JobRecord>? tcs;
        lock (_gate)
        {
            if (!_waiters.TryGetValue(id, out tcs))
            {
                tcs = new TaskCompletionSource<JobRecord>(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiters[id] = tcs;
            }
        }
        // Registered before reading, so a finish between the read and the await is not missed.
        var job = _store.GetJob(id);
        if (job is null)
        {
            lock (_gate) _waiters.Remove(id);
            throw CairnException.NotFound($"unknown job {id}");
        }
        if (IsFinished(job.State)) return job;
        return await tcs.Task.WaitAsync(ct);
    }

    /// <summary>Deletes finished jobs beyond the retention limits now; returns how many were deleted.</summary>
    public async Task<int> SweepAsync(CancellationToken ct = default)
    {
        var ids = _store.ListExpiredJobs(DateTimeOffset.UtcNow - _options.RetainFor, _options.RetainMaxCount);
        foreach (var chunk in ids.Chunk(100))
        {
            await _store.WriteAsync(w =>
            {
                foreach (var id in chunk) w.DeleteJob(id);
            }, ct);
        }
        if (ids.Count > 0) Log.Swept(_logger, ids.Count);
        return ids.Count;
    }

    internal static bool IsFinished(JobState s) => s is JobState.Succeeded or JobState.Failed or JobState.Cancelled;

    private void Notify(JobRecord final)
    {
        TaskCompletionSource<JobRecord>? tcs;
        lock (_gate) _waiters.Remove(final.Id, out tcs);
        tcs?.TrySetResult(final);
        JobFinished?.Invoke(final);
    }

    /// <summary>Finishes a job that no handler is running: final state, unfinished items Skipped, a log line.</summary>
    private async Task<JobRecord> FinishDirectAsync(JobRecord job, JobState state, string error, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        var final = job with { State = state, Error = error, Finished = now };
        var skipped = _store.ListJobItems(job.Id).Where(i => i.State is ItemState.Pending or ItemState.Running)
            .Select(i => i with { State = ItemState.Skipped, Error = i.Error ?? $"job {state.ToString().ToLowerInvariant()}", Finished = now })
            .ToArray();
        await _store.WriteAsync(w =>
        {
            w.Put(final);
            foreach (var i in skipped) w.Put(i);
            w.AppendLog(job.Id, "error", $"{state.ToString().ToLowerInvariant()}: {error}");
        }, ct);
        Log.JobFinished(_logger, job.Id, job.Type, state.ToString(), error);
        return final;
    }
}
