using Cairn.Core;
using Cairn.Core.Export;
using Cairn.Core.State;
using Cairn.Core.Storage;
using Cairn.Iscsi.Protocol;
using Cairn.Iscsi.Scsi;
using Cairn.Iscsi.Target;

namespace Cairn.Hosting;

/// <summary>
/// Cairn's own iSCSI target as an exporter: keeps the live <see cref="TargetRegistry"/> equal to the durable targets,
/// applying every committed change in order. Logical units open their volume lazily, at the first command, so 10,000
/// idle targets cost no open devices.
/// </summary>
public sealed class CairnExporter : ITargetExporter
{
    private readonly TargetRegistry _registry;
    private readonly IExportContext _context;
    private readonly Lock _gate = new();
    // One dictionary per target, shared with its registry entry (which never changes it): a host with 10,000 targets
    // keeps every one of them in memory, so each costs as few objects as possible.
    private readonly Dictionary<string, Dictionary<int, IScsiLogicalUnit>> _units = new(StringComparer.OrdinalIgnoreCase);
    private readonly bool _removable;

    public CairnExporter(TargetRegistry registry, IExportContext context, CairnOptions options)
    {
        _removable = options.IscsiMedium == "removable";
        _registry = registry;
        _context = context;
    }

    public string Kind => "cairn";

    public IReadOnlyList<ExportSession> Sessions(string iqn) =>
        [.. _registry.SessionsOf(iqn).Select(s => new ExportSession(iqn, s.InitiatorName, s.InitiatorAddress, null))];

    public Task<int> EndSessionsAsync(string iqn, string? initiator, CancellationToken ct)
    {
        int n = 0;
        foreach (var s in _registry.SessionsOf(iqn))
        {
            if (initiator is not null && !string.Equals(s.InitiatorName, initiator, StringComparison.OrdinalIgnoreCase)) continue;
            s.End(SessionEndReason.Ended);
            n++;
        }
        return Task.FromResult(n);
    }

    public Task ApplyAsync(IReadOnlyList<TargetChange> changes, CancellationToken ct)
    {
        Apply(changes);
        return Task.CompletedTask;
    }

    public Task ReconcileAsync(IReadOnlyList<TargetRecord> targets, CancellationToken ct)
    {
        // The registry lives in this process: it holds exactly what was applied, so reconciling means removing what is
        // no longer wanted and (re)applying the rest; unchanged targets keep their units and sessions.
        var wanted = targets.ToDictionary(t => t.Iqn, StringComparer.OrdinalIgnoreCase);
        List<TargetChange> changes;
        lock (_gate)
        {
            changes = [.. _units.Keys.Where(k => !wanted.ContainsKey(k)).Select(k => new TargetChange(new TargetRecord(k, [], [], null, null, null, default), null))];
        }
        changes.AddRange(targets.Select(t => new TargetChange(null, t)));
        Apply(changes);
        return Task.CompletedTask;
    }

    private void Apply(IReadOnlyList<TargetChange> changes)
    {
        lock (_gate)
        {
            foreach (var c in changes)
            {
                if (c.After is null)
                {
                    _registry.Remove(c.Before!.Iqn);
                    if (_units.Remove(c.Before.Iqn, out var old)) foreach (var u in old.Values) u.Dispose();
                    continue;
                }
                var t = c.After;
                // Same LUN map: keep the units (their reservations and unit attentions) and change only access.
                if (!_units.TryGetValue(t.Iqn, out var units) || !SameLuns(units, t.Luns))
                {
                    if (units is not null) foreach (var u in units.Values) u.Dispose();
                    var lunNumbers = t.Luns.Select(l => (ulong)l.Lun).ToArray();
                    units = new Dictionary<int, IScsiLogicalUnit>(t.Luns.Count);
                    foreach (var l in t.Luns) units[l.Lun] = new LazyUnit(_context.Engine, l, lunNumbers, _removable);
                    _units[t.Iqn] = units;
                }
                _registry.AddOrUpdate(new IscsiTarget
                {
                    Iqn = t.Iqn,
                    Luns = units,
                    Initiators = t.Initiators,
                    Chap = t.Chap is { } chap ? new ChapSecret(chap.User, _context.OpenSecret(chap)) : null,
                    MutualChap = t.MutualChap is { } m ? new ChapSecret(m.User, _context.OpenSecret(m)) : null,
                });
            }
        }
    }

    private static bool SameLuns(Dictionary<int, IScsiLogicalUnit> units, IReadOnlyList<TargetLun> luns) =>
        units.Count == luns.Count && luns.All(l => units.TryGetValue(l.Lun, out var u) && u is LazyUnit lu && lu.Lun == l);

    public ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            foreach (var units in _units.Values) foreach (var u in units.Values) u.Dispose();
            _units.Clear();
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>A logical unit that opens its volume or snapshot at the first command.</summary>
    private sealed class LazyUnit(IVolumeEngine engine, TargetLun lun, ulong[] lunNumbers, bool removable) : IScsiLogicalUnit
    {
        private ScsiBlockDevice? _unit;

        public TargetLun Lun => lun;

        private ScsiBlockDevice Unit => Volatile.Read(ref _unit) ?? Open();

        private ScsiBlockDevice Open()
        {
            // The first SCSI command waits for the open: the embedded engine opens synchronously; an engine that runs a
            // command (ZFS mounting a dataset) blocks this one connection's command, never the others.
            var dev = (lun.Snapshot is null ? engine.OpenAsync(lun.Dataset).AsTask() : engine.OpenSnapshotAsync(lun.Dataset, lun.Snapshot).AsTask()).GetAwaiter().GetResult();
            var unit = new ScsiBlockDevice(dev, new ScsiBlockDeviceOptions { Lun = (ulong)lun.Lun, ReportLuns = () => lunNumbers, Removable = removable, ReadOnly = lun.ReadOnly });
            var first = Interlocked.CompareExchange(ref _unit, unit, null);
            if (first is null) return unit;
            // Two first commands raced: one device serves both.
            unit.Dispose();
            dev.Dispose();
            return first;
        }

        public long DataOutLength(ReadOnlySpan<byte> cdb) => Unit.DataOutLength(cdb);

        public ScsiResult Execute(ReadOnlySpan<byte> cdb, ReadOnlySpan<byte> dataOut, Span<byte> dataIn, in ScsiCommandInfo info)
            => Unit.Execute(cdb, dataOut, dataIn, info);

        public void Reset(in ScsiNexus nexus, bool targetReset) => Volatile.Read(ref _unit)?.Reset(nexus, targetReset);

        public void NexusLost(in ScsiNexus nexus) => Volatile.Read(ref _unit)?.NexusLost(nexus);

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _unit, null) is { } u)
            {
                u.Dispose();
                u.Device.Dispose();
            }
        }
    }
}
