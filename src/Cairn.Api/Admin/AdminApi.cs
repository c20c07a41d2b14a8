using Cairn.Core;
using Cairn.Core.Pools;
using Cairn.Core.Services;
using Cairn.Core.Storage;
using Cairn.Core.Workflows;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Cairn.Api.Admin;

/// <summary>The admin API, <c>/cairn/v1</c>: volumes, folders, snapshots, clones, pool, data import/export.</summary>
public static class AdminApi
{
    public const string Prefix = "/cairn/v1";

    /// <summary>The admin API's error shape: <c>{"error":{"code":"not_found","message":"…"}}</c>.</summary>
    public static ApiErrorShape ErrorShape { get; } = new("admin", "/cairn", (problem, _) => ApiErrorMiddleware.DefaultBody(problem));

    public static IEndpointRouteBuilder MapCairnAdminApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup(Prefix).WithTags("admin");
        const int B = StatusCodes.Status400BadRequest, F = StatusCodes.Status403Forbidden, N = StatusCodes.Status404NotFound,
            C = StatusCodes.Status409Conflict, U = StatusCodes.Status501NotImplemented, S = StatusCodes.Status507InsufficientStorage;

        g.MapGet("/pools", async Task<Ok<PoolDto[]>> (PoolService pools, CancellationToken ct) =>
            TypedResults.Ok((await pools.ListAsync(ct)).Select(PoolDto.From).ToArray()))
            .Operation("ListPools", "List pools with their engine, health and space").AdminErrors();

        g.MapGet("/pools/{name}", async Task<Ok<PoolDto>> (string name, PoolService pools, CancellationToken ct) =>
            TypedResults.Ok(PoolDto.From(await pools.GetAsync(name, ct))))
            .Operation("GetPool", "Show one pool").AdminErrors(B, N);

        g.MapPost("/pools", async Task<Created<PoolDto>> (HttpRequest req, PoolService pools, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<CreatePoolRequest>(req, ct);
            var p = await pools.CreateAsync(AdminParse.Required(body.Name, "name"), body.Engine, ct);
            return TypedResults.Created((string?)null, PoolDto.From(p));
        }).Accepts<CreatePoolRequest>("application/json")
            .Operation("CreatePool", "Create a pool (zfs: adopt the existing zpool of that name)").AdminErrors(B, N, C, U);

        g.MapGet("/volumes", async Task<Ok<VolumeDto[]>> (VolumeService svc, string? root, CancellationToken ct) =>
        {
            if (root is not null) Names.ValidateDataset(root);
            return TypedResults.Ok((await svc.ListAsync(root, ct)).Select(VolumeDto.From).ToArray());
        }).Operation("ListVolumes", "List volumes and folders, optionally only those under root").AdminErrors(B, N);

        g.MapPost("/volumes", async Task<Created<VolumeDto>> (HttpRequest req, VolumeService svc, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<CreateVolumeRequest>(req, ct);
            var name = AdminParse.Required(body.Name, "name");
            var v = await svc.CreateVolumeAsync(name, AdminParse.Size(body.Size), body.Parents, ct: ct);
            return TypedResults.Created((string?)null, VolumeDto.From(v));
        }).Accepts<CreateVolumeRequest>("application/json")
            .Operation("CreateVolume", "Create a thin volume").AdminErrors(B, N, C, U, S);

        g.MapPost("/folders", async Task<Created<VolumeDto>> (HttpRequest req, VolumeService svc, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<CreateFolderRequest>(req, ct);
            var name = Names.ValidateDataset(AdminParse.Required(body.Name, "name"));
            var ds = await svc.CreateFolderAsync(name, body.Parents, ct);
            return TypedResults.Created((string?)null, VolumeDto.From(new VolumeView(ds, null)));
        }).Accepts<CreateFolderRequest>("application/json")
            .Operation("CreateFolder", "Create a folder").AdminErrors(B, N, C, U, S);

        g.MapGet("/volumes/{**name}", async Task<Ok<VolumeDto>> (string name, VolumeService svc, CancellationToken ct) =>
        {
            Names.ValidateDataset(name);
            var v = await svc.GetAsync(name, ct) ?? throw CairnException.NotFound($"volume {name} does not exist");
            return TypedResults.Ok(VolumeDto.From(v));
        }).Operation("GetVolume", "Show one volume or folder").AdminErrors(B, N);

        g.MapPatch("/volumes/{**name}", async Task<Ok<VolumeDto>> (string name, HttpRequest req, VolumeService svc, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<ResizeRequest>(req, ct);
            var v = await svc.ResizeAsync(name, AdminParse.Size(body.Size), ct: ct);
            return TypedResults.Ok(VolumeDto.From(v));
        }).Accepts<ResizeRequest>("application/json")
            .Operation("ResizeVolume", "Grow a volume").AdminErrors(B, F, N, C, U, S);

        g.MapDelete("/volumes/{**name}", async Task<NoContent> (string name, bool? recursive, VolumeService svc, CancellationToken ct) =>
        {
            await svc.DestroyAsync(name, recursive ?? false, ct: ct);
            return TypedResults.NoContent();
        }).Operation("DestroyVolume", "Destroy a volume or folder (recursive: with its own snapshots)").AdminErrors(B, F, N, C, U);

        g.MapGet("/snapshots", async Task<Ok<SnapshotDto[]>> (string? volume, VolumeService svc, CancellationToken ct) =>
        {
            if (volume is not null)
            {
                Names.ValidateDataset(volume);
                if (await svc.GetDatasetAsync(volume, ct) is null) throw CairnException.NotFound($"volume {volume} does not exist");
            }
            return TypedResults.Ok((await svc.ListSnapshotsAsync(volume, ct)).Select(SnapshotDto.From).ToArray());
        }).Operation("ListSnapshots", "List snapshots, optionally only one volume's").AdminErrors(B, N);

        g.MapPost("/snapshots", async Task<Created<SnapshotDto>> (HttpRequest req, VolumeService svc, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<CreateSnapshotRequest>(req, ct);
            var (ds, snap) = Names.ValidateSnapshot(AdminParse.Required(body.Name, "name"));
            var s = await svc.CreateSnapshotAsync(ds, snap, ct: ct);
            return TypedResults.Created((string?)null, SnapshotDto.From(s));
        }).Accepts<CreateSnapshotRequest>("application/json")
            .Operation("CreateSnapshot", "Take a read-only snapshot").AdminErrors(B, F, N, C, U, S);

        g.MapGet("/snapshots/{**name}", async Task<Ok<SnapshotDto>> (string name, VolumeService svc, CancellationToken ct) =>
        {
            var (ds, snap) = Names.ValidateSnapshot(name);
            var s = await svc.GetSnapshotAsync(ds, snap, ct) ?? throw CairnException.NotFound($"snapshot {name} does not exist");
            return TypedResults.Ok(SnapshotDto.From(s));
        }).Operation("GetSnapshot", "Show one snapshot").AdminErrors(B, N);

        g.MapDelete("/snapshots/{**name}", async Task<NoContent> (string name, VolumeService svc, CancellationToken ct) =>
        {
            var (ds, snap) = Names.ValidateSnapshot(name);
            await svc.DestroySnapshotAsync(ds, snap, ct: ct);
            return TypedResults.NoContent();
        }).Operation("DestroySnapshot", "Destroy a snapshot (refused while it has clones)").AdminErrors(B, F, N, C, U);

        g.MapPost("/clones", async Task<Created<VolumeDto>> (HttpRequest req, VolumeService svc, CancellationToken ct) =>
        {
            var body = await Json.ReadAsync<CloneRequest>(req, ct);
            var (ds, snap) = Names.ValidateSnapshot(AdminParse.Required(body.Source, "source"));
            var target = AdminParse.Required(body.Target, "target");
            var v = await svc.CloneAsync(ds, snap, target, body.Parents, ct: ct);
            return TypedResults.Created((string?)null, VolumeDto.From(v));
        }).Accepts<CloneRequest>("application/json")
            .Operation("CloneSnapshot", "Make a writable copy-on-write clone of a snapshot").AdminErrors(B, F, N, C, U, S);

        // The image endpoints stream: their bodies are declared here (VolumeData writes them).
        g.MapPut("/volume-data/{**name}", VolumeData.ImportAsync)
            .Accepts<Stream>(SparseStream.MediaType, "application/octet-stream", SparseStream.LocalFileMediaType)
            .Produces<ImportAnswer>(StatusCodes.Status200OK).Produces<ImportAnswer>(StatusCodes.Status201Created)
            .WithoutBodyLimit().Operation("ImportVolume", "Import an image into a volume (created sized to the image when absent; 201 then)").AdminErrors(B, F, N, C, U, S);
        g.MapGet("/volume-data/{**name}", VolumeData.ExportAsync)
            .Produces<Stream>(StatusCodes.Status200OK, SparseStream.MediaType, "application/octet-stream")
            .Operation("ExportVolume", "Export a volume or snapshot (sparse with Accept: application/vnd.cairn.sparse, else raw)").AdminErrors(B, N, U);
        return app;
    }
}

/// <summary>The batch endpoint.</summary>
public static class BatchApi
{
    public static IEndpointRouteBuilder MapCairnBatchApi(this IEndpointRouteBuilder app)
    {
        app.MapPost(AdminApi.Prefix + "/batch", async Task<Accepted<BatchAccepted>> (HttpRequest req, Cairn.Core.Jobs.JobEngine jobs, CancellationToken ct) =>
        {
            var body = await Json.ReadObjectAsync(req, ct);
            var ops = BatchJob.Parse(body);
            var job = await BatchJob.SubmitAsync(jobs, body, ops, ct);
            return TypedResults.Accepted((string?)null, new BatchAccepted(job.Id, "pending", ops.Count));
        }).Accepts<BatchRequest>("application/json").WithTags("admin")
            .Operation("SubmitBatch", "Run many volume operations as one durable job").AdminErrors(StatusCodes.Status400BadRequest);
        return app;
    }
}
