using Cairn.Core;
using Cairn.Core.Services;

namespace Cairn.Api.Admin;

/// <summary>The admin API, <c>/cairn/v1</c>: volumes, folders, snapshots, clones, pool, data import/export.</summary>
public static class AdminApi
{
    public const string Prefix = "/cairn/v1";

    /// <summary>The admin API's error shape: <c>{"error":{"code":"not_found","message":"…"}}</c>.</summary>
    public static ApiErrorShape ErrorShape { get; } = new("admin", "/cairn", (kind, message, _) => ApiErrorMiddleware.DefaultBody(kind, message));

    public static IEndpointRouteBuilder MapCairnAdminApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup(Prefix).WithTags("admin");

        g.MapGet("/pool", (VolumeService svc) =>
        {
            var p = svc.Engine.GetPoolInfo();
            return Results.Json(new { engine = svc.Engine.Kind, size = p.Size, allocated = p.Allocated, free = p.Free, datasets = p.Datasets, snapshots = p.Snapshots }, Json.Options);
        });

        g.MapGet("/volumes", (VolumeService svc, string? root) =>
        {
            if (root is not null) Names.ValidateDataset(root);
            return Results.Json(svc.List(root).Select(VolumeDto.From), Json.Options);
        });

        g.MapPost("/volumes", async (HttpRequest req, VolumeService svc, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<CreateVolumeRequest>(req, ct);
            var name = AdminParse.Required(body.Name, "name");
            var v = await svc.CreateVolumeAsync(name, AdminParse.Size(body.Size), body.Parents, ct: ct);
            return Results.Json(VolumeDto.From(v), Json.Options, statusCode: StatusCodes.Status201Created);
        });

        g.MapPost("/folders", async (HttpRequest req, VolumeService svc, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<CreateFolderRequest>(req, ct);
            var name = Names.ValidateDataset(AdminParse.Required(body.Name, "name"));
            var ds = svc.Engine.CreateFolder(name, body.Parents);
            return Results.Json(VolumeDto.From(new VolumeView(ds, null)), Json.Options, statusCode: StatusCodes.Status201Created);
        });

        g.MapGet("/volumes/{**name}", (string name, VolumeService svc) =>
        {
            Names.ValidateDataset(name);
            var v = svc.Get(name) ?? throw CairnException.NotFound($"volume {name} does not exist");
            return Results.Json(VolumeDto.From(v), Json.Options);
        });

        g.MapPatch("/volumes/{**name}", async (string name, HttpRequest req, VolumeService svc, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<ResizeRequest>(req, ct);
            var v = await svc.ResizeAsync(name, AdminParse.Size(body.Size), ct);
            return Results.Json(VolumeDto.From(v), Json.Options);
        });

        g.MapDelete("/volumes/{**name}", async (string name, bool? recursive, VolumeService svc, CancellationToken ct) =>
        {
            await svc.DestroyAsync(name, recursive ?? false, ct);
            return Results.NoContent();
        });

        g.MapGet("/snapshots", (string? volume, VolumeService svc) =>
        {
            if (volume is not null)
            {
                Names.ValidateDataset(volume);
                if (svc.Engine.Get(volume) is null) throw CairnException.NotFound($"volume {volume} does not exist");
            }
            return Results.Json(svc.Engine.ListSnapshots(volume).Select(SnapshotDto.From), Json.Options);
        });

        g.MapPost("/snapshots", async (HttpRequest req, VolumeService svc, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<CreateSnapshotRequest>(req, ct);
            var (ds, snap) = Names.ValidateSnapshot(AdminParse.Required(body.Name, "name"));
            var s = await svc.CreateSnapshotAsync(ds, snap, ct);
            return Results.Json(SnapshotDto.From(s), Json.Options, statusCode: StatusCodes.Status201Created);
        });

        g.MapGet("/snapshots/{**name}", (string name, VolumeService svc) =>
        {
            var (ds, snap) = Names.ValidateSnapshot(name);
            var s = svc.Engine.GetSnapshot(ds, snap) ?? throw CairnException.NotFound($"snapshot {name} does not exist");
            return Results.Json(SnapshotDto.From(s), Json.Options);
        });

        g.MapDelete("/snapshots/{**name}", async (string name, VolumeService svc, CancellationToken ct) =>
        {
            var (ds, snap) = Names.ValidateSnapshot(name);
            await svc.DestroySnapshotAsync(ds, snap, ct);
            return Results.NoContent();
        });

        g.MapPost("/clones", async (HttpRequest req, VolumeService svc, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<CloneRequest>(req, ct);
            var (ds, snap) = Names.ValidateSnapshot(AdminParse.Required(body.Source, "source"));
            var target = AdminParse.Required(body.Target, "target");
            var v = await svc.CloneAsync(ds, snap, target, body.Parents, ct: ct);
            return Results.Json(VolumeDto.From(v), Json.Options, statusCode: StatusCodes.Status201Created);
        });

        g.MapPut("/volume-data/{**name}", VolumeData.ImportAsync);
        g.MapGet("/volume-data/{**name}", VolumeData.ExportAsync);
        return app;
    }
}

/// <summary>The batch endpoint.</summary>
public static class BatchApi
{
    public static IEndpointRouteBuilder MapCairnBatchApi(this IEndpointRouteBuilder app)
    {
        app.MapPost(AdminApi.Prefix + "/batch", async (HttpRequest req, Cairn.Core.Jobs.JobEngine jobs, CancellationToken ct) =>
        {
            var body = await Json.ReadObjectAsync(req, ct);
            var ops = BatchJob.Parse(body);
            var keys = ops.Select(BatchJob.Key).ToList();
            var job = await jobs.SubmitAsync(BatchJob.JobType, body, keys, "pending", keys, ct);
            return Results.Json(new { id = job.Id, state = "pending", items = ops.Count }, Json.Options, statusCode: StatusCodes.Status202Accepted);
        }).WithTags("admin");
        return app;
    }
}
