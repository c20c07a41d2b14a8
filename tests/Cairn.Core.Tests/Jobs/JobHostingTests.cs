using Cairn.Core.Jobs;
using Cairn.Core.State;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Cairn.Core.Tests.Jobs;

public sealed class JobHostingTests : JobTestBase
{
    [Fact]
    public async Task AddCairnJobs_registers_one_engine_that_is_also_the_hosted_service_and_runs_registered_handlers()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(Store);
        services.AddSingleton<IJobHandler>(new TestHandler("t", (ctx, _) => ctx.SetPhaseAsync("ran")));
        services.AddCairnJobs(o => o.MaxConcurrentJobs = 2);
        await using var provider = services.BuildServiceProvider();

        var engine = provider.GetRequiredService<JobEngine>();
        var hosted = Assert.Single(provider.GetServices<IHostedService>());
        Assert.Same(engine, hosted);
        Assert.Equal(2, provider.GetRequiredService<JobEngineOptions>().MaxConcurrentJobs);

        await hosted.StartAsync(Ct);
        var job = await Finished(engine, (await engine.SubmitAsync("t", Request(), ct: Ct)).Id);
        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Equal("ran", job.Phase);
        await hosted.StopAsync(Ct);
    }

    [Fact]
    public void Invalid_options_are_refused_at_registration()
    {
        var services = new ServiceCollection();
        Assert.Throws<ArgumentOutOfRangeException>(() => services.AddCairnJobs(o => o.MaxConcurrentJobs = 0));
    }
}
