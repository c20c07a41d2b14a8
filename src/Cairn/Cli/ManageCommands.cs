using System.CommandLine;
using Cairn.Contracts;

namespace Cairn.Cli;

/// <summary>
/// What a ZFS user looks for next to create and destroy: <c>cairn volume rename|rollback|promote</c>,
/// <c>cairn folder rename</c> and <c>cairn snapshot rename</c> (zfs rename, zfs rollback [-r], zfs promote). Each is
/// refused by the server while a target exports what it would change.
/// </summary>
internal static class ManageCommands
{
    private static CairnJsonContext Json => CairnJsonContext.Default;

    /// <summary>Adds rename, rollback and promote to <c>cairn volume</c>.</summary>
    public static void AddTo(Command volume, string what = "volume")
    {
        var parents = new Option<bool>("--parents", "-p") { Description = "Create missing parent folders of the new name" };
        var old = new Argument<string>("NAME") { Description = $"The {what}'s name, pool/a/b" };
        var newName = new Argument<string>("NEW") { Description = "Its new name, in the same pool" };
        var rename = new Command("rename", what == "folder"
            ? "Rename a folder within its pool; everything in it moves with it"
            : "Rename a volume (or folder) within its pool; its snapshots and clones follow") { old, newName, parents };
        rename.Handle(async (pr, api, ct) => Commands.Show(pr, await api.PostAsync("cairn/v1/volumes/rename",
            new RenameRequest(pr.GetValue(old), pr.GetValue(newName), pr.GetValue(parents)), Json.RenameRequest, Json.VolumeDto, ct)));
        volume.Subcommands.Add(rename);
        if (what == "folder") return;

        var snap = new Argument<string>("NAME@SNAP") { Description = "The snapshot to go back to" };
        var destroyLater = new Option<bool>("--destroy-later", "-r") { Description = "Also destroy the snapshots taken after it (zfs rollback -r); refused if one has clones" };
        var rollback = new Command("rollback", "Roll a volume back to a snapshot, discarding every write since (only the most recent snapshot unless --destroy-later)") { snap, destroyLater };
        rollback.Handle(async (pr, api, ct) =>
        {
            var n = await api.PostAsync("cairn/v1/volumes/rollback", new RollbackRequest(pr.GetValue(snap), pr.GetValue(destroyLater)),
                Json.RollbackRequest, Json.RollbackAnswer, ct);
            Commands.Show(pr, n, Json.RollbackAnswer, a => [
                ("volume", a.Volume.Name), ("snapshot", pr.GetValue(snap)!), ("size", Output.Size(a.Volume.Size)),
                ("destroyed", Output.List(a.DestroyedSnapshots)),
            ]);
        });

        var clone = new Argument<string>("CLONE") { Description = "A clone, pool/a/b" };
        var promote = new Command("promote", "Make a clone independent of its origin: the origin snapshot (and older ones) move to it, so the origin can be destroyed") { clone };
        promote.Handle(async (pr, api, ct) => Commands.Show(pr, await api.PostAsync("cairn/v1/volumes/promote",
            new PromoteRequest(pr.GetValue(clone)), Json.PromoteRequest, Json.VolumeDto, ct)));
        volume.Subcommands.Add(rollback);
        volume.Subcommands.Add(promote);
    }

    /// <summary>Adds rename to <c>cairn snapshot</c>.</summary>
    public static void AddToSnapshot(Command snapshot)
    {
        var snap = new Argument<string>("NAME@SNAP") { Description = "The snapshot" };
        var newName = new Argument<string>("NEW") { Description = "Its new name: the part after '@' (or NAME@NEW, same volume)" };
        var rename = new Command("rename", "Rename a snapshot within its volume; its clones follow") { snap, newName };
        rename.Handle(async (pr, api, ct) => Commands.Show(pr, await api.PostAsync("cairn/v1/snapshots/rename",
            new RenameSnapshotRequest(pr.GetValue(snap), pr.GetValue(newName)), Json.RenameSnapshotRequest, Json.SnapshotDto, ct)));
        snapshot.Subcommands.Add(rename);
    }
}
