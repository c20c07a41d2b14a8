using Cairn.Core;
using Cairn.Core.Pools;
using Cairn.Core.Services;
using Cairn.Core.Workflows;

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

        g.MapGet("/pools", async (PoolService pools, CancellationToken ct) =>
            Results.Json((await pools.ListAsync(ct)).Select(PoolDto.From), Json.Options));

        g.MapGet("/pools/{name}", async (string name, PoolService pools, CancellationToken ct) =>
            Results.Json(PoolDto.From(await pools.GetAsync(name, ct)), Json.Options));

        g.MapPost("/pools", async (HttpRequest req, PoolService pools, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<CreatePoolRequest>(req, ct);
            var p = await pools.CreateAsync(AdminParse.Required(body.Name, "name"), body.Engine, ct);
            return Results.Json(PoolDto.From(p), Json.Options, statusCode: StatusCodes.Status201Created);
        });

        g.MapGet("/volumes", async (VolumeService svc, string? root, CancellationToken ct) =>
        {
            if (root is not null) Names.ValidateDataset(root);
            return Results.Json((await svc.ListAsync(root, ct)).Select(VolumeDto.From), Json.Options);
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
            var ds = await svc.CreateFolderAsync(name, body.Parents, ct);
            return Results.Json(VolumeDto.From(new VolumeView(ds, null)), Json.Options, statusCode: StatusCodes.Status201Created);
        });

        g.MapGet("/volumes/{**name}", async (string name, VolumeService svc, CancellationToken ct) =>
        {
            Names.ValidateDataset(name);
            var v = await svc.GetAsync(name, ct) ?? throw CairnException.NotFound($"volume {name} does not exist");
            return Results.Json(VolumeDto.From(v), Json.Options);
        });

        g.MapPatch("/volumes/{**name}", async (string name, HttpRequest req, VolumeService svc, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<ResizeRequest>(req, ct);
            var v = await svc.ResizeAsync(name, AdminParse.Size(body.Size), ct: ct);
            return Results.Json(VolumeDto.From(v), Json.Options);
        });

        g.MapDelete("/volumes/{**name}", async (string name, bool? recursive, VolumeService svc, CancellationToken ct) =>
        {
            await svc.DestroyAsync(name, recursive ?? false, ct: ct);
            return Results.NoContent();
        });

        g.MapGet("/snapshots", async (string? volume, VolumeService svc, CancellationToken ct) =>
        {
            if (volume is not null)
            {
                Names.ValidateDataset(volume);
                if (await svc.GetDatasetAsync(volume, ct) is null) throw CairnException.NotFound($"volume {volume} does not exist");
            }
            return Results.Json((await svc.ListSnapshotsAsync(volume, ct)).Select(SnapshotDto.From), Json.Options);
        });

        g.MapPost("/snapshots", async (HttpRequest req, VolumeService svc, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<CreateSnapshotRequest>(req, ct);
            var (ds, snap) = Names.ValidateSnapshot(AdminParse.Required(body.Name, "name"));
            var s = await svc.CreateSnapshotAsync(ds, snap, ct: ct);
            return Results.Json(SnapshotDto.From(s), Json.Options, statusCode: StatusCodes.Status201Created);
        });

        g.MapGet("/snapshots/{**name}", async (string name, VolumeService svc, CancellationToken ct) =>
        {
            var (ds, snap) = Names.ValidateSnapshot(name);
            var s = await svc.GetSnapshotAsync(ds, snap, ct) ?? throw CairnException.NotFound($"snapshot {name} does not exist");
            return Results.Json(SnapshotDto.From(s), Json.Options);
        });

        g.MapDelete("/snapshots/{**name}", async (string name, VolumeService svc, CancellationToken ct) =>
        {
            var (ds, snap) = Names.ValidateSnapshot(name);
            await svc.DestroySnapshotAsync(ds, snap, ct: ct);
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
            var job = await BatchJob.SubmitAsync(jobs, body, ops, ct);
            return Results.Json(new { id = job.Id, state = "pending", items = ops.Count }, Json.Options, statusCode: StatusCodes.Status202Accepted);
        }).WithTags("admin");
        return app;
    }
}
