using Cairn.Api.BlockStorage.Http;

namespace Cairn.Api.BlockStorage.Model;

// What the export and import jobs need of the volume workflows: its lock, deferred deletion and the attachment rule.
public sealed partial class VolumeWorkflows
{
    /// <summary>Whether an attachment of the volume completed (what makes it <c>in-use</c>).</summary>
    internal bool IsAttached(VolumeRecord v) => HasAttached(v);

    /// <summary>Destroys a hidden (<see cref="Cinder.Deleted"/>) record's dataset, or leaves it waiting for its clones.</summary>
    internal Task ReleaseAsync(VolumeRecord v, CancellationToken ct) => ReleaseVolumeAsync(v, ct);

    /// <summary>
    /// Swaps an import's new dataset in, in one state-store commit: the Cinder volume's record takes the new dataset's
    /// name (its id, project and attributes stay), and the hidden record that held the new dataset takes the old one,
    /// with the old dataset's snapshot records (internal ones: visible snapshots refuse an import), so deferred deletion
    /// destroys it (or waits for clones made from it). Before the commit the volume is exactly as it was; after it, the
    /// import is whole (its data was flushed before). Returns the volume's new record.
    /// </summary>
    internal async Task<VolumeRecord> SwapDatasetAsync(Guid volumeId, Guid holderId, Func<VolumeRecord, VolumeRecord> final, CancellationToken ct)
    {
        VolumeRecord upd, old;
        using (await _locks.AcquireAsync(volumeId.ToString(), ct))
        {
            var cur = store.GetVolume(volumeId) ?? throw CinderError.NotFound($"Volume {volumeId} could not be found.");
            var holder = store.GetVolume(holderId) ?? throw new CairnException(ErrorKind.Internal, $"the imported dataset's record {holderId} is gone");
            var now = DateTimeOffset.UtcNow;
            upd = final(cur with { Name = holder.Name }) with { Name = holder.Name, Updated = now };
            old = holder with
            {
                Name = cur.Name, Status = Cinder.Deleted, Updated = now,
                // No import job any more: the record now holds the replaced dataset, which recovery may always collect.
                Attributes = new JsonObject { ["internal"] = true, ["replaced_by_import"] = VolumeAttrs.Str(holder.Attributes, Backups.ImportJobAttr) },
            };
            var snaps = store.ListSnapshots(cur.Id);
            // Names are unique in the store: the holder steps aside first, then each record takes the other's name.
            var aside = holder with { Name = holder.Name + "#swap" };
            await store.WriteAsync(w =>
            {
                w.Put(aside);
                w.Put(upd);
                w.Put(old);
                foreach (var s in snaps) w.Put(s with { VolumeId = old.Id });
            }, ct);
        }
        await ReleaseVolumeAsync(old, CancellationToken.None);
        return upd;
    }
}
