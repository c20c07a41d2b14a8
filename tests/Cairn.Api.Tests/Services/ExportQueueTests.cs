using Cairn.Core;
using Cairn.Core.Export;
using Cairn.Core.Services;
using Cairn.Core.State;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cairn.Api.Tests.Services;

/// <summary>The export queue applies committed changes in order, and a failed apply or a lost exporter state is repaired by a reconcile.</summary>
public sealed class ExportQueueTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>An exporter that records what it was asked and fails while told to.</summary>
    private sealed class Recorder : ITargetExporter
    {
        public readonly List<string> Applied = [];
        public readonly List<int> Reconciles = [];
        public volatile bool Failing;
        public volatile bool LostState;
        public TaskCompletionSource Reconciled = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Kind => "recorder";
        public bool NeedsReconcile => LostState;

        public Task ApplyAsync(IReadOnlyList<TargetChange> changes, CancellationToken ct)
        {
            if (Failing) throw new CairnException(ErrorKind.Internal, "exporter is down");
            lock (Applied) Applied.AddRange(changes.Select(c => (c.After is null ? "-" : "+") + (c.After ?? c.Before)!.Iqn));
            return Task.CompletedTask;
        }

        public Task ReconcileAsync(IReadOnlyList<TargetRecord> targets, CancellationToken ct)
        {
            if (Failing) throw new CairnException(ErrorKind.Internal, "exporter is down");
            lock (Reconciles) Reconciles.Add(targets.Count);
            LostState = false;
            Reconciled.TrySetResult();
            return Task.CompletedTask;
        }

        public IReadOnlyList<ExportSession> Sessions(string iqn) => [];

        public Task<int> EndSessionsAsync(string iqn, string? initiator, CancellationToken ct) => Task.FromResult(0);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private static TargetRecord Target(string iqn) => new(iqn, [new TargetLun(0, "tank/v")], [], null, null, null, DateTimeOffset.UtcNow);

    [Fact]
    public async Task Changes_are_applied_in_commit_order_after_a_first_reconcile()
    {
        await using var exporter = new Recorder();
        await using var queue = new ExportQueue(exporter, new TargetIndex(), NullLogger<ExportQueue>.Instance);
        await queue.StartAsync(Ct);
        Assert.Equal([0], exporter.Reconciles);
        Assert.True(await queue.EnqueueAsync([new TargetChange(null, Target("iqn.2026-01.org.example:a"))]));
        Assert.True(await queue.EnqueueAsync([new TargetChange(Target("iqn.2026-01.org.example:a"), null), new TargetChange(null, Target("iqn.2026-01.org.example:b"))]));
        Assert.Equal(["+iqn.2026-01.org.example:a", "-iqn.2026-01.org.example:a", "+iqn.2026-01.org.example:b"], exporter.Applied);
        await queue.StopAsync(Ct);
    }

    [Fact]
    public async Task A_failed_apply_is_reported_and_repaired_by_a_reconcile_once_the_exporter_is_back()
    {
        await using var exporter = new Recorder();
        await using var queue = new ExportQueue(exporter, new TargetIndex(), NullLogger<ExportQueue>.Instance);
        await queue.StartAsync(Ct);
        exporter.Reconciled = new(TaskCreationOptions.RunContinuationsAsynchronously);
        exporter.Failing = true;
        Assert.False(await queue.EnqueueAsync([new TargetChange(null, Target("iqn.2026-01.org.example:a"))]));
        exporter.Failing = false;
        await exporter.Reconciled.Task.WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.Equal(2, exporter.Reconciles.Count);
        await queue.StopAsync(Ct);
    }

    [Fact]
    public async Task An_exporter_that_lost_its_state_is_reconciled()
    {
        await using var exporter = new Recorder();
        await using var queue = new ExportQueue(exporter, new TargetIndex(), NullLogger<ExportQueue>.Instance);
        await queue.StartAsync(Ct);
        exporter.Reconciled = new(TaskCreationOptions.RunContinuationsAsynchronously);
        exporter.LostState = true; // e.g. tgtd restarted
        await exporter.Reconciled.Task.WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.False(exporter.NeedsReconcile);
        await queue.StopAsync(Ct);
    }
}
