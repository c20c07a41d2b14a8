using Cairn.Core.State;

namespace Cairn.Core.Jobs;

// Scheduling, running and recovery.
public sealed partial class JobEngine
{
    private readonly object _gate = new();
    private readonly LinkedList<QueuedJob> _queue = new();
    private readonly Dictionary<Guid, RunningJob> _running = [];
    private readonly Dictionary<Guid, TaskCompletionSource<JobRecord>> _waiters = [];
    private readonly CancellationTokenSource _stopCts = new();
    private Task _sweeper = Task.CompletedTask;
    private bool _started, _stopping, _disposed;

    /// <summary>
    /// Recovers jobs a previous process left Running (resumed when their handler is registered and attempts remain,
    /// else failed with a reason), queues Pending jobs, starts dispatching and the retention sweep.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_started || _stopping) return;
        }
        foreach (var job in _store.ListJobs(JobState.Running, int.MaxValue))
        {
            lock (_gate)
            {
                if (_running.ContainsKey(job.Id)) continue;
            }
            string outcome;
            if (job.CancelRequested)
            {
                outcome = "cancelled (the cancel was requested before the restart)";
                Notify(await FinishDirectAsync(job, JobState.Cancelled, outcome, cancellationToken));
            }
            else if (!_handlers.ContainsKey(job.Type))
            {
                outcome = $"interrupted by restart; no handler registered for job type '{job.Type}'";
                Notify(await FinishDirectAsync(job, JobState.Failed, outcome, cancellationToken));
            }
            else if (job.Attempts >= _options.MaxAttempts)
            {
                outcome = $"interrupted by restart; gave up after {job.Attempts} attempts";
                Notify(await FinishDirectAsync(job, JobState.Failed, outcome, cancellationToken));
            }
            else
            {
                outcome = $"interrupted by restart; resuming (attempt {job.Attempts + 1} of {_options.MaxAttempts})";
                var pending = job with { State = JobState.Pending };
                await _store.WriteAsync(w =>
                {
                    w.Put(pending);
                    w.AppendLog(job.Id, "warning", outcome);
                }, cancellationToken);
            }
            Log.Recovered(_logger, job.Id, job.Type, outcome);
        }
        var queued = _store.ListJobs(JobState.Pending, int.MaxValue);
        lock (_gate)
        {
            foreach (var job in queued) Enqueue(job);
            var ordered = _queue.OrderBy(q => q.Created).ThenBy(q => q.Id).ToList();
            _queue.Clear();
            foreach (var q in ordered) _queue.AddLast(q);
            _started = true;
            Pump();
        }
        _sweeper = Task.Run(SweepLoopAsync, CancellationToken.None);
    }

    /// <summary>
    /// Stops dispatching and signals running handlers; a handler that stops on the signal leaves its job Pending, to be
    /// resumed at the next start. Waits for handlers until <paramref name="cancellationToken"/> fires.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        Task[] tasks;
        lock (_gate)
        {
            if (_stopping) return;
            _stopping = true;
            tasks = [.. _running.Values.Select(r => r.Task), _sweeper];
        }
        await _stopCts.CancelAsync();
        try
        {
            await Task.WhenAll(tasks).WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // The host's shutdown timeout: jobs still running stay Running in the store and are recovered at the next start.
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            await StopAsync(timeout.Token);
        }
        lock (_gate) _disposed = true;
        _stopCts.Dispose();
    }

    /// <inheritdoc />
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private async Task SweepLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.SweepInterval);
        try
        {
            do
            {
                try
                {
                    await SweepAsync(_stopCts.Token);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.SweepFailed(_logger, ex);
                }
            }
            while (await timer.WaitForNextTickAsync(_stopCts.Token));
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    // Called under _gate.
    private void Enqueue(JobRecord job)
    {
        if (_running.ContainsKey(job.Id) || _queue.Any(q => q.Id == job.Id)) return;
        _queue.AddLast(new QueuedJob(job.Id, job.Created, job.ConflictKeys?.ToArray() ?? []));
    }

    // Called under _gate.
    private void RemoveQueued(Guid id)
    {
        for (var node = _queue.First; node is not null; node = node.Next)
        {
            if (node.Value.Id == id)
            {
                _queue.Remove(node);
                return;
            }
        }
    }

    // Called under _gate. Starts queued jobs in order while slots are free; a job whose conflict keys are held by a
    // running job, or by an earlier queued job, waits (so jobs on the same keys run in submission order).
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The linked source belongs to the RunningJob; RunAsync disposes it when the job ends.")]
    private void Pump()
    {
        if (!_started || _stopping) return;
        var held = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var r in _running.Values) held.UnionWith(r.Keys);
        var node = _queue.First;
        while (node is not null && _running.Count < _options.MaxConcurrentJobs)
        {
            var next = node.Next;
            var q = node.Value;
            if (!q.Keys.Any(held.Contains))
            {
                _queue.Remove(node);
                var run = new RunningJob(q.Id, q.Keys, CancellationTokenSource.CreateLinkedTokenSource(_stopCts.Token));
                _running[q.Id] = run;
                run.Task = Task.Run(() => RunAsync(run), CancellationToken.None);
            }
            held.UnionWith(q.Keys);
            node = next;
        }
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1031", Justification = "A handler's failure becomes the job's error; a store failure is logged and recovered at the next start.")]
    private async Task RunAsync(RunningJob run)
    {
        JobRecord? final = null;
        try
        {
            var job = _store.GetJob(run.Id);
            if (job is null || IsFinished(job.State)) return;
            if (!_handlers.TryGetValue(job.Type, out var handler))
            {
                final = await FinishDirectAsync(job, JobState.Failed, $"no handler registered for job type '{job.Type}'", CancellationToken.None);
                return;
            }
            var isResume = job.Started is not null || job.Attempts > 0;
            var record = job with { State = JobState.Running, Started = job.Started ?? DateTimeOffset.UtcNow, Attempts = job.Attempts + 1, Error = null };
            var ctx = new JobContext(_store, record, _store.ListJobItems(run.Id), isResume, run.Cts.Token);
            run.Context = ctx;
            if (run.CancelRequested) ctx.NoteCancelRequested();
            var what = isResume ? $"resumed (attempt {record.Attempts})" : "started";
            await ctx.StartAsync(what);
            Log.JobStarted(_logger, job.Id, job.Type, what);

            Exception? error = null;
            try
            {
                await handler.RunAsync(ctx, run.Cts.Token);
            }
            catch (Exception ex)
            {
                error = ex;
            }

            var failedItems = ctx.FailedItems();
            var complete = error is null && failedItems.Count == 0 && !ctx.HasUnfinishedItems();
            var stoppedByShutdown = run.Cts.IsCancellationRequested && !run.CancelRequested;
            if (stoppedByShutdown && (error is OperationCanceledException || (error is null && !complete)))
            {
                await ctx.InterruptAsync(); // resume at the next start
                Log.JobFinished(_logger, job.Id, job.Type, "interrupted by shutdown", null);
                return;
            }
            if (run.CancelRequested && !complete)
            {
                final = await ctx.FinishAsync(JobState.Cancelled, "cancelled");
            }
            else if (error is not null)
            {
                // A CairnException is a failure with a reason (items that already existed, a refused operation): the
                // JobFinished line below carries it. Only unexpected faults are logged with their stack.
                if (error is not CairnException) Log.HandlerFailed(_logger, job.Id, job.Type, error);
                final = await ctx.FinishAsync(JobState.Failed, JobErrors.Describe(error));
            }
            else if (failedItems.Count > 0)
            {
                final = await ctx.FinishAsync(JobState.Failed, SummariseFailures(failedItems, ctx.Items.Count));
            }
            else
            {
                final = await ctx.FinishAsync(JobState.Succeeded, null);
            }
            Log.JobFinished(_logger, job.Id, job.Type, final.State.ToString(), final.Error);
        }
        catch (Exception ex)
        {
            // The store failed (or closed under us): the job keeps its last recorded state and start-up recovers it.
            Log.StateWriteFailed(_logger, run.Id, ex);
        }
        finally
        {
            lock (_gate)
            {
                _running.Remove(run.Id);
                Pump();
            }
            run.Cts.Dispose();
            if (final is not null) Notify(final);
        }
    }

    private static string SummariseFailures(IReadOnlyList<JobItem> failed, int total)
    {
        const int Shown = 5;
        var parts = failed.Take(Shown).Select(i => i.Error is null ? i.Key : $"{i.Key} ({i.Error})");
        var more = failed.Count > Shown ? $"; and {failed.Count - Shown} more" : "";
        return $"{failed.Count} of {total} items failed: {string.Join("; ", parts)}{more}";
    }

    private sealed record QueuedJob(Guid Id, DateTimeOffset Created, string[] Keys);

    private sealed class RunningJob(Guid id, string[] keys, CancellationTokenSource cts)
    {
        private volatile JobContext? _context;
        private volatile bool _cancelRequested;

        public Guid Id { get; } = id;
        public string[] Keys { get; } = keys;
        public CancellationTokenSource Cts { get; } = cts;
        public Task Task { get; set; } = Task.CompletedTask;
        public bool CancelRequested => _cancelRequested;

        public JobContext? Context
        {
            get => _context;
            set => _context = value;
        }

        public void RequestCancel() => _cancelRequested = true;
    }
}
