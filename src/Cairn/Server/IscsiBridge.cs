using Cairn.Api.Admin;
using Cairn.Core;
using Cairn.Core.Services;
using Cairn.Core.State;
using Cairn.Core.Storage;
using Cairn.Iscsi.Protocol;
using Cairn.Iscsi.Scsi;
using Cairn.Iscsi.Target;

namespace Cairn.Server;

/// <summary>
/// Keeps the live iSCSI <see cref="TargetRegistry"/> equal to the durable targets of <see cref="TargetService"/>:
/// loaded at start, then every committed change applied in order. Logical units open their volume lazily, at the
/// first command, so 10,000 idle targets cost no open devices.
/// </summary>
public sealed class IscsiBridge : IHostedService, ITargetSessions, IDisposable
{
    private readonly TargetService _targets;
    private readonly TargetRegistry _registry;
    private readonly IVolumeEngine _engine;
    private readonly ILogger<IscsiBridge> _log;
    private readonly Lock _gate = new();
    // One dictionary per target, shared with its registry entry (which never changes it): a host with 10,000 targets
    // keeps every one of them in memory, so each costs as few objects as possible.
    private readonly Dictionary<string, Dictionary<int, IScsiLogicalUnit>> _units = new(StringComparer.OrdinalIgnoreCase);

    private readonly bool _removable;

    public IscsiBridge(TargetService targets, TargetRegistry registry, IVolumeEngine engine, ILogger<IscsiBridge> log, CairnOptions options)
    {
        _removable = options.IscsiMedium == "removable";
        _targets = targets;
        _registry = registry;
        _engine = engine;
        _log = log;
    }

    public Task StartAsync(CancellationToken ct)
    {
        _targets.Changed += Apply;
        Apply(_targets.List().Select(t => new TargetChange(null, t)).ToList());
        _log.LogInformation("iSCSI: {Count} targets loaded", _targets.Count);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken ct)
    {
        _targets.Changed -= Apply;
        return Task.CompletedTask;
    }

    public int SessionCount(string iqn) => _registry.SessionsOf(iqn).Count;

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
                if (!_units.TryGetValue(t.Iqn, out var units) || c.Before is null || !c.Before.Luns.SequenceEqual(t.Luns))
                {
                    if (units is not null) foreach (var u in units.Values) u.Dispose();
                    var lunNumbers = t.Luns.Select(l => (ulong)l.Lun).ToArray();
                    units = new Dictionary<int, IScsiLogicalUnit>(t.Luns.Count);
                    foreach (var l in t.Luns) units[l.Lun] = new LazyUnit(_engine, l, lunNumbers, _removable);
                    _units[t.Iqn] = units;
                }
                _registry.AddOrUpdate(new IscsiTarget
                {
                    Iqn = t.Iqn,
                    Luns = units,
                    Initiators = t.Initiators,
                    Chap = t.Chap is { } chap ? new ChapSecret(chap.User, _targets.OpenSecret(chap)) : null,
                    MutualChap = t.MutualChap is { } m ? new ChapSecret(m.User, _targets.OpenSecret(m)) : null,
                });
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var units in _units.Values) foreach (var u in units.Values) u.Dispose();
            _units.Clear();
        }
    }

    /// <summary>A logical unit that opens its volume or snapshot at the first command.</summary>
    private sealed class LazyUnit(IVolumeEngine engine, TargetLun lun, ulong[] lunNumbers, bool removable) : IScsiLogicalUnit
    {
        private ScsiBlockDevice? _unit;

        private ScsiBlockDevice Unit => Volatile.Read(ref _unit) ?? Open();

        private ScsiBlockDevice Open()
        {
            var dev = lun.Snapshot is null ? engine.Open(lun.Dataset) : engine.OpenSnapshot(lun.Dataset, lun.Snapshot);
            var unit = new ScsiBlockDevice(dev, new ScsiBlockDeviceOptions { Lun = (ulong)lun.Lun, ReportLuns = () => lunNumbers, Removable = removable });
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
