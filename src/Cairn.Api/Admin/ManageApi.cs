using Cairn.Core;
using Cairn.Core.Services;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Cairn.Api.Admin;

/// <summary>
/// What a ZFS user expects beyond create and destroy: rename (volumes, folders, snapshots), rollback and promote, under
/// <c>/cairn/v1</c>. Each is refused (409) while a target exports what it would change (see <see cref="VolumeService"/>).
/// </summary>
public static class ManageApi
{
    public static IEndpointRouteBuilder MapCairnManageApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup(AdminApi.Prefix).WithTags("admin");
        const int B = StatusCodes.Status400BadRequest, F = StatusCodes.Status403Forbidden, N = StatusCodes.Status404NotFound,
            C = StatusCodes.Status409Conflict, U = StatusCodes.Status501NotImplemented;

        g.MapPost("/volumes/rename", async Task<Ok<VolumeDto>> (HttpRequest req, VolumeService svc, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<RenameRequest>(req, ct);
            var name = Names.ValidateDataset(AdminParse.Required(body.Name, "name"));
            var newName = Names.ValidateDataset(AdminParse.Required(body.NewName, "new_name"));
            return TypedResults.Ok(VolumeDto.From(await svc.RenameAsync(name, newName, body.Parents, ct: ct)));
        }).Accepts<RenameRequest>("application/json")
            .Operation("RenameVolume", "Rename a volume or folder within its pool (its snapshots, clones and children follow)").AdminErrors(B, F, N, C, U);

        g.MapPost("/snapshots/rename", async Task<Ok<SnapshotDto>> (HttpRequest req, VolumeService svc, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<RenameSnapshotRequest>(req, ct);
            var (ds, snap) = Names.ValidateSnapshot(AdminParse.Required(body.Name, "name"));
            var target = AdminParse.Required(body.NewName, "new_name");
            string newSnap;
            if (target.Contains('@', StringComparison.Ordinal))
            {
                var (newDs, s) = Names.ValidateSnapshot(target);
                if (newDs != ds) throw CairnException.Invalid($"new_name: a snapshot is renamed within its volume ({ds}), not moved to {newDs}");
                newSnap = s;
            }
            else newSnap = Names.ValidateSnapshot(ds + "@" + target).Snapshot;
            return TypedResults.Ok(SnapshotDto.From(await svc.RenameSnapshotAsync(ds, snap, newSnap, ct: ct)));
        }).Accepts<RenameSnapshotRequest>("application/json")
            .Operation("RenameSnapshot", "Rename a snapshot within its volume").AdminErrors(B, F, N, C, U);

        g.MapPost("/volumes/rollback", async Task<Ok<RollbackAnswer>> (HttpRequest req, VolumeService svc, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<RollbackRequest>(req, ct);
            var (ds, snap) = Names.ValidateSnapshot(AdminParse.Required(body.Snapshot, "snapshot"));
            var r = await svc.RollbackAsync(ds, snap, body.DestroyLater, ct: ct);
            return TypedResults.Ok(new RollbackAnswer(VolumeDto.From(r.Volume), r.DestroyedSnapshots));
        }).Accepts<RollbackRequest>("application/json")
            .Operation("RollbackVolume", "Roll a volume back to a snapshot (only the most recent one, unless destroy_later destroys the later ones)").AdminErrors(B, F, N, C, U);

        g.MapPost("/volumes/promote", async Task<Ok<VolumeDto>> (HttpRequest req, VolumeService svc, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<PromoteRequest>(req, ct);
            var name = Names.ValidateDataset(AdminParse.Required(body.Name, "name"));
            return TypedResults.Ok(VolumeDto.From(await svc.PromoteAsync(name, ct: ct)));
        }).Accepts<PromoteRequest>("application/json")
            .Operation("PromoteClone", "Make a clone independent of its origin (the origin snapshot moves to it)").AdminErrors(B, F, N, C, U);
        return app;
    }
}
