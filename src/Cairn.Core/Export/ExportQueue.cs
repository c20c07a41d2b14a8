using System.Threading.Channels;
using Cairn.Core.Services;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cairn.Core.Export;

/// <summary>
/// Carries committed target changes to the exporter, in commit order, outside every lock. A change that fails to
/// apply marks the exporter dirty; a dirty exporter, or one that reports it lost its state
/// (<see cref="ITargetExporter.NeedsReconcile"/>), is reconciled with every durable target, retried with backoff until
/// it succeeds. At start the exporter is reconciled once before anything else is exported.
/// </summary>
public sealed partial class ExportQueue(ITargetExporter exporter, TargetIndex targets, ILogger<ExportQueue> log) : IHostedService, IAsyncDisposable
{
    private readonly Channel<(IReadOnlyList<TargetChange> Changes, TaskCompletionSource<bool> Done)> _queue =
        Channel.CreateUnbounded<(IReadOnlyList<TargetChange>, TaskCompletionSource<bool>)>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private Task? _worker;
    private volatile bool _dirty;

    /// <summary>The exporter this queue feeds.</summary>
    public ITargetExporter Exporter => exporter;

    /// <summary>
    /// Queues committed changes; the task completes once the exporter applied them (true) or failed to (false: the
    /// changes stay durable and a reconcile retries them).
    /// </summary>
    public Task<bool> EnqueueAsync(IReadOnlyList<TargetChange> changes)
    {
        var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (changes.Count == 0) done.SetResult(true);
        else if (!_queue.Writer.TryWrite((changes, done))) done.SetResult(false);
        return done.Task;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await exporter.ReconcileAsync(targets.List(), cancellationToken);
            Log.Reconciled(log, exporter.Kind, targets.Count);
        }
        catch (Exception e) when (e is CairnException or IOException)
        {
            _dirty = true;
            Log.ReconcileFailed(log, exporter.Kind, e.Message);
        }
        _worker = Task.Run(() => RunAsync(_stop.Token), CancellationToken.None);
    }

    private async Task RunAsync(CancellationToken ct)
    {
        var backoff = TimeSpan.FromSeconds(1);
        var tick = Task.Delay(TimeSpan.FromSeconds(1), ct);
        while (!ct.IsCancellationRequested)
        {
            var read = _queue.Reader.WaitToReadAsync(ct).AsTask();
            try
            {
                await Task.WhenAny(read, tick);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            while (_queue.Reader.TryRead(out var item))
            {
                try
                {
                    await exporter.ApplyAsync(item.Changes, ct);
                    item.Done.TrySetResult(true);
                }
                catch (Exception e) when (e is CairnException or IOException)
                {
                    _dirty = true;
                    Log.ApplyFailed(log, exporter.Kind, item.Changes.Count, e.Message);
                    item.Done.TrySetResult(false);
                }
                catch (OperationCanceledException)
                {
                    item.Done.TrySetResult(false);
                }
            }
            if (!tick.IsCompleted) continue;
            tick = Task.Delay(backoff, ct);
            if (!_dirty && !exporter.NeedsReconcile) { backoff = TimeSpan.FromSeconds(1); continue; }
            try
            {
                await exporter.ReconcileAsync(targets.List(), ct);
                _dirty = false;
                backoff = TimeSpan.FromSeconds(1);
                Log.Reconciled(log, exporter.Kind, targets.Count);
            }
            catch (Exception e) when (e is CairnException or IOException)
            {
                _dirty = true;
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
                Log.ReconcileFailed(log, exporter.Kind, e.Message);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        await _stop.CancelAsync();
        try
        {
            if (_worker is not null) await _worker.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // The host gave up waiting: the worker ends on its own (its token is cancelled).
        }
        while (_queue.Reader.TryRead(out var item)) item.Done.TrySetResult(false);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Dispose();
        await exporter.DisposeAsync();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1420, Level = LogLevel.Information, Message = "exporter {Exporter}: reconciled with {Count} targets")]
        public static partial void Reconciled(ILogger logger, string exporter, int count);

        [LoggerMessage(EventId = 1421, Level = LogLevel.Error, Message = "exporter {Exporter}: reconcile failed, retrying: {Reason}")]
        public static partial void ReconcileFailed(ILogger logger, string exporter, string reason);

        [LoggerMessage(EventId = 1422, Level = LogLevel.Error, Message = "exporter {Exporter}: {Count} target changes failed to apply, a reconcile will retry them: {Reason}")]
        public static partial void ApplyFailed(ILogger logger, string exporter, int count, string reason);
    }
}
