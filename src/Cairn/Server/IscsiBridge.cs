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
    private readonly Dictionary<string, IReadOnlyDictionary<int, LazyUnit>> _units = new(StringComparer.OrdinalIgnoreCase);

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
                    units = t.Luns.ToDictionary(l => l.Lun, l => new LazyUnit(_engine, l, new ScsiBlockDeviceOptions { Lun = (ulong)l.Lun, ReportLuns = () => lunNumbers, Removable = _removable }));
                    _units[t.Iqn] = units;
                }
                _registry.AddOrUpdate(new IscsiTarget
                {
                    Iqn = t.Iqn,
                    Luns = units.ToDictionary(kv => kv.Key, kv => (IScsiLogicalUnit)kv.Value),
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
    private sealed class LazyUnit(IVolumeEngine engine, TargetLun lun, ScsiBlockDeviceOptions options) : IScsiLogicalUnit
    {
        private readonly Lazy<ScsiBlockDevice> _unit = new(() =>
        {
            var dev = lun.Snapshot is null ? engine.Open(lun.Dataset) : engine.OpenSnapshot(lun.Dataset, lun.Snapshot);
            return new ScsiBlockDevice(dev, options);
        }, LazyThreadSafetyMode.ExecutionAndPublication);

        public long DataOutLength(ReadOnlySpan<byte> cdb) => _unit.Value.DataOutLength(cdb);

        public ScsiResult Execute(ReadOnlySpan<byte> cdb, ReadOnlySpan<byte> dataOut, Span<byte> dataIn, in ScsiCommandInfo info)
            => _unit.Value.Execute(cdb, dataOut, dataIn, info);

        public void Reset(in ScsiNexus nexus, bool targetReset)
        {
            if (_unit.IsValueCreated) _unit.Value.Reset(nexus, targetReset);
        }

        public void NexusLost(in ScsiNexus nexus)
        {
            if (_unit.IsValueCreated) _unit.Value.NexusLost(nexus);
        }

        public void Dispose()
        {
            if (_unit.IsValueCreated)
            {
                var u = _unit.Value;
                u.Dispose();
                u.Device.Dispose();
            }
        }
    }
}
