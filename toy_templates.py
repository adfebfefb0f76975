"""Words and sentence templates of the toy world: data only, read by toy_data.py.

A template's {slots} are filled by toy_data.fill() (prose: a topic's bank, COMMON, or a random number
such as {n} or {pct}) or by str.format() (word problems: {N} name, {P}/{p} pronoun, {o} object
pronoun, {poss}/{Poss} possessive, {F} friend, {I} item, {T} thing, {x} the step's number, {y} the
second factor of a "box" opener).
"""
from __future__ import annotations


def alts(s: str) -> list[str]:
    """'a | b | c' -> ['a', 'b', 'c']: keeps the template lists below compact."""
    return [x.strip() for x in s.split("|")]


# ---------------------------------------------------------------------------- word problems

NAMES = ("Ava:she Ben:he Chloe:she Dan:he Emma:she Finn:he Grace:she Hugo:he Iris:she Jack:he Kate:she "
         "Liam:he Maya:she Noah:he Olga:she Paul:he Rosa:she Sam:he Tara:she Umar:he Vera:she Will:he "
         "Yara:she Zack:he Lena:she Omar:he Nina:she Raj:he Sofia:she Tom:he").split()
PRONOUNS = {"she": dict(P="She", p="she", o="her", poss="her", Poss="Her"),
            "he": dict(P="He", p="he", o="him", poss="his", Poss="His")}
ITEMS = alts("apples | marbles | stickers | pencils | books | cards | coins | shells | stamps | cookies | "
             "balloons | beads | crayons | eggs | flowers | toy cars | buttons | candles | ribbons | "
             "cupcakes | oranges | postcards | puzzles | comics | lemons")
ANIMALS = alts("sheep | goats | cows | chickens | ducks | rabbits | horses | pigs")
THINGS = alts("book | hat | ticket | game | lamp | scarf | pen set | kite")
CONNECTORS = ["Then ", "After that, ", "Later, ", "Next, "]

# "count" scenes (one quantity changed step by step), each in two voices: "bench", the benchmark's
# wording, and "web", the pool's worked-problem pages (why: see toy_data.py). mul/div entries are
# (template, fixed operand or None for {x}); "box" openers are a first multiplication; every scene
# has add and sub, so a valid step always exists.
COUNT_SCENES = [
    dict(var="{I}",
         bench=dict(start=alts("{N} has {x} {I}. | {N} starts the day with {x} {I}. | "
                               "{N} collected {x} {I}."),
                    box=["{N} buys {x} boxes of {I} with {y} {I} in each box."],
                    add=alts("{P} buys {x} more {I}. | {F} gives {o} {x} {I}. | {P} finds {x} more {I}. | "
                             "{P} wins {x} {I} at the fair."),
                    sub=alts("{P} gives {x} {I} to {F}. | {P} loses {x} {I}. | {P} sells {x} {I}. | "
                             "{P} trades away {x} {I}."),
                    mul=[("The number of {I} {p} has becomes {x} times as large.", None),
                         ("{P} doubles {poss} {I}.", 2), ("{P} triples {poss} {I}.", 3)],
                    div=[("{P} splits the {I} into {x} equal piles and keeps one pile.", None),
                         ("{P} gives away half of {poss} {I}.", 2)],
                    ask=alts("How many {I} does {N} have now? | How many {I} does {N} have in the end?")),
         web=dict(start=alts("{N} owns a collection of {x} {I}. | At first, {N} keeps {x} {I} in a drawer."),
                  box=["{N} orders {x} packs of {I}, and every pack contains {y} {I}."],
                  add=alts("Afterwards {p} receives another {x} {I}. | {N}'s aunt sends {o} {x} extra {I}. | "
                           "On the weekend {p} collects {x} additional {I}."),
                  sub=alts("{N} donates {x} {I} to a charity. | Sadly, {x} of the {I} get lost. | "
                           "{N} hands {x} {I} over to {F}."),
                  mul=[("Over the summer the collection grows {x}-fold.", None),
                       ("The collection of {I} doubles in size.", 2)],
                  div=[("{N} divides the {I} evenly among {x} cousins, keeping one share.", None),
                       ("Only half of the {I} are kept.", 2)],
                  ask=alts("What is the number of {I} that {N} owns at the end? | "
                           "Find the final count of {N}'s {I}."))),
    dict(var="{I}",
         bench=dict(start=alts("A shop has {x} {I} in stock. | A store starts the week with {x} {I}."),
                    box=["A shop receives {x} crates of {I} with {y} {I} in each crate."],
                    add=alts("A delivery brings {x} more {I}. | The shop orders {x} more {I}."),
                    sub=alts("The shop sells {x} {I}. | {x} {I} are sent back to the factory."),
                    mul=[("The manager makes the stock {x} times as large.", None)],
                    div=[("The shop sends the {I} in equal parts to {x} branches and keeps one part.", None)],
                    ask=alts("How many {I} does the shop have now? | How many {I} are in the shop now?")),
         web=dict(start=["The warehouse of a small store holds {x} {I}."],
                  box=["A supplier drops off {x} cartons holding {y} {I} apiece."],
                  add=alts("A truck unloads a further {x} {I}. | The owner restocks with {x} extra {I}."),
                  sub=alts("Customers purchase {x} {I} during the sale. | "
                           "The store discards {x} broken {I}."),
                  mul=[("Before the holidays, stock is multiplied by {x}.", None)],
                  div=[("The {I} are shared equally by {x} outlets and this outlet keeps one share.", None)],
                  ask=["What is the final stock of {I} at the store?"])),
    dict(var="passengers",
         bench=dict(start=["A bus leaves the station with {x} passengers."],
                    add=alts("At the next stop, {x} people get on. | {x} more passengers get on at the "
                             "market."),
                    sub=alts("At the next stop, {x} people get off. | {x} passengers get off at the park."),
                    mul=[("At the stadium, the number of passengers becomes {x} times as large.", None),
                         ("At the station, the number of passengers doubles.", 2)],
                    div=[("At the school, half of the passengers get off.", 2)],
                    ask=["How many passengers are on the bus now?"]),
         web=dict(start=["A tram departs carrying {x} riders."],
                  add=alts("At the following station {x} extra riders board. | "
                           "Another {x} commuters hop on by the museum."),
                  sub=alts("At the following station {x} riders step off. | By the museum {x} commuters "
                           "leave."),
                  mul=[("Near the harbour the crowd grows {x}-fold.", None)],
                  div=[("By the university, half of the riders leave.", 2)],
                  ask=["What number of riders remains on the tram?"])),
    dict(var="money",
         bench=dict(start=alts("{N} has {x} dollars. | {N} saved {x} dollars."),
                    box=["{N} works {x} hours and earns {y} dollars per hour."],
                    add=alts("{P} earns {x} dollars. | {F} pays {o} {x} dollars. | {P} finds {x} dollars."),
                    sub=alts("{P} spends {x} dollars on a {T}. | {P} pays {x} dollars for lunch."),
                    mul=[("{Poss} savings grow to {x} times as much.", None),
                         ("{P} doubles {poss} money.", 2)],
                    div=[("{P} splits {poss} money into {x} equal envelopes and keeps one envelope.", None),
                         ("{P} spends half of {poss} money.", 2)],
                    ask=alts("How many dollars does {N} have now? | How much money, in dollars, does {N} "
                             "have now?")),
         web=dict(start=["{N} keeps {x} dollars in a piggy bank."],
                  box=["{N} babysits for {x} evenings at {y} dollars per evening."],
                  add=alts("A birthday card brings {N} another {x} dollars. | "
                           "{N} is paid {x} dollars for mowing a lawn."),
                  sub=alts("{N} buys a {T} costing {x} dollars. | A movie night costs {N} {x} dollars."),
                  mul=[("Thanks to a matching bonus, {N}'s balance becomes {x} times bigger.", None)],
                  div=[("{N} splits the savings evenly into {x} jars and keeps just one jar.", None)],
                  ask=["What amount, in dollars, is left for {N}?"])),
    dict(var="{I}", items=ANIMALS,
         bench=dict(start=alts("A farm has {x} {I}. | Farmer {N} keeps {x} {I}."),
                    add=alts("{x} baby {I} are born. | The farmer buys {x} more {I}."),
                    sub=alts("The farmer sells {x} {I}. | {x} {I} move to a neighbour's farm."),
                    mul=[("After a good year the number of {I} is {x} times as large.", None)],
                    div=[("The farmer gives away half of the {I}.", 2)],
                    ask=["How many {I} are on the farm now?"]),
         web=dict(start=["There are {x} {I} living on a hillside ranch."],
                  add=alts("In spring, {x} young {I} arrive. | The rancher purchases an extra {x} {I}."),
                  sub=alts("At the market the rancher trades {x} {I}. | A neighbour takes {x} {I} home."),
                  mul=[("After breeding season, the herd is {x} times larger.", None)],
                  div=[("The rancher donates half the herd to a school.", 2)],
                  ask=["What is the size of the herd at the end?"])),
    dict(var="books",
         bench=dict(start=alts("A library shelf holds {x} books. | A school library has {x} books on one "
                               "shelf."),
                    add=alts("The librarian adds {x} new books. | Readers return {x} books."),
                    sub=alts("Readers borrow {x} books. | {x} old books are taken away."),
                    ask=["How many books are on the shelf now?"]),
         web=dict(start=["A classroom bookcase contains {x} novels."],
                  add=alts("Pupils donate {x} extra novels. | The teacher brings {x} further novels."),
                  sub=alts("Pupils take home {x} novels. | Some {x} damaged novels get recycled."),
                  ask=["What number of novels stays on the bookcase?"])),
]
COMPARE = dict(
    bench=dict(start="{X} has {x} {I}.", ask="How many {I} does {X} have?",
               together="How many {I} do {X} and {Y} have together?",
               add=alts("{Y} has {x} more {I} than {X}. | {Y} owns {x} more {I} than {X} does."),
               sub=alts("{Y} has {x} fewer {I} than {X}. | {Y} owns {x} fewer {I} than {X} does."),
               mul=[("{Y} has {x} times as many {I} as {X}.", None),
                    ("{Y} has twice as many {I} as {X}.", 2)],
               div=[("{Y} has half as many {I} as {X}.", 2), ("{Y} has a third as many {I} as {X}.", 3)]),
    web=dict(start="The number of {I} belonging to {X} is {x}.", ask="What is the number of {I} belonging to "
                                                                     "{X}?",
             together="What is the combined number of {I} belonging to {X} and {Y}?",
             add=["The {I} of {Y} outnumber those of {X} by {x}."], sub=["{Y} is {x} {I} short of {X}."],
             mul=[("{Y} holds {x} times the {I} that {X} holds.", None),
                  ("{Y} holds double what {X} holds.", 2)],
             div=[("{Y} holds half of what {X} holds.", 2)]))


# ---------------------------------------------------------------------------- web pages

COMMON = dict(
    name=[p.split(":")[0] for p in NAMES] + alts("Alex | Jordan | Mei | Kofi | Lucia | Pavel | Ines | Ravi"),
    surname=alts("Smith | Garcia | Okafor | Novak | Tanaka | Silva | Larsen | Khan | Dubois | Rossi | Meyer"),
    city=alts("Springfield | Riverton | Lakeview | Oakdale | Port Ellis | Brookfield | Maple Falls | "
              "Eastwick"),
    day=alts("Monday | Tuesday | Wednesday | Thursday | Friday | Saturday | Sunday"),
    month=alts("January | March | April | May | June | July | September | October | November"),
    user=alts("{name}{d}{d} | {name}_{surname} | quiet_{name} | {surname}{year} | the_real_{name}"),
    official=["{name} {surname}"], player=["{name} {surname}"],
    school=alts("Hillside High | Lincoln Middle School | Riverside Academy | North Park School"),
)
TOPICS = {
    "sports": dict(
        section="sports football results league".split(), sub="reports news teams stats previews".split(),
        titles=alts("{team} beat {team} in a {sport} thriller | Match report: {team} vs {team} | "
                    "{player} leads {team} to victory | Season preview: can {team} win the {sport} title?"),
        lines=alts("{team} beat {team} {d}-{d} on {day} night at {venue}. | {player} scored {d} goals and "
                   "added {d} assists in the second half. | The coach, {player}, said the team had worked "
                   "hard all {month}. | Attendance was {big}, the largest crowd of the season at {venue}. | "
                   "{player} is averaging {dec} points per game this season. | After {n} matches, {team} sit "
                   "{d} points clear at the top of the table. | The defence of {team} allowed only {d} shots "
                   "on target. | Fans of {team} will travel to {city} for the next game on {day}. | {player} "
                   "missed {d} games with a knee injury but returned for the {sport} final. | It was their "
                   "{d}th win in a row, and their total this season rose to {n}. | Ticket prices for {venue} "
                   "went up by {pct} percent compared with last year. | The referee showed {d} yellow cards "
                   "before half time in {city}. | {team} have won {pct} percent of their away games since "
                   "{year}."),
        bank=dict(team=alts("Rivertown Rovers | Northfield United | Harbor City Hawks | Westbrook Wolves | "
                            "Eastgate Eagles | Lakeside Lions | Hillview Hornets | Stonebridge Stars"),
                  sport=alts("football | basketball | hockey | tennis | cricket | rugby | volleyball"),
                  venue=alts("the home stadium | Central Arena | the old ground | Riverside Park")),
        forum_q=alts("Who do you think wins the {sport} league this year? | Is {player} worth {big} thousand "
                     "dollars? | Best seats at {venue} for a {sport} game?"),
        forum_a=alts("{team}, they have won {d} in a row and {player} is in great form. | Go for the upper "
                     "ring at {venue}, tickets are about {n} dollars. | No way, {player} played only {d} "
                     "games last season.")),
    "cooking": dict(
        section="recipes food kitchen cooking".split(), sub="dinner baking desserts quick vegetarian".split(),
        titles=alts("Easy {dish} recipe | How to make {dish} at home | The best {dish} you will ever bake | "
                    "{dish} in {n} minutes | Weeknight dinner: {dish}"),
        lines=alts("Preheat the oven to {temp} degrees and grease {tool}. | Mix {d} {unit} of {ingredient} "
                   "with {d} {unit} of {ingredient} until smooth. | Add {d} {unit} of {ingredient} and stir "
                   "for {n} seconds. | Bake the {dish} for {n} minutes, or until the top is golden. | If you "
                   "double the recipe, use {d} {unit} of {ingredient} instead. | Divide the dough into {d} "
                   "equal pieces and let them rest for {n} minutes. | My grandmother made this {dish} every "
                   "{day}, and it is still my favourite. | Serve the {dish} warm with a spoon of "
                   "{ingredient} on top. | This {dish} keeps for {d} days in the fridge. | You can swap the "
                   "{ingredient} for {ingredient} if you prefer a lighter taste. | One serving of {dish} has "
                   "about {big} calories and {n} grams of protein. | Chop {d} {ingredient} finely and fry "
                   "them in {tool} for {d} minutes. | Readers from {city} told us the {dish} tastes even "
                   "better the next day. | Ingredients: {d} {unit} of {ingredient}, {d} {unit} of "
                   "{ingredient}, a pinch of {ingredient}."),
        bank=dict(dish=alts("lemon cake | tomato soup | banana bread | chicken curry | vegetable lasagna | "
                            "apple pie | pancakes | mushroom risotto | beef stew | garlic bread"),
                  ingredient=alts("flour | sugar | butter | milk | eggs | olive oil | garlic | onions | rice "
                                  "| tomatoes | salt | cinnamon | yogurt | honey | lemons"),
                  unit=alts("cups | grams | tablespoons | teaspoons | ounces"),
                  tool=alts("a large pan | a baking tray | a cast iron skillet | a deep pot")),
        forum_q=alts("My {dish} always comes out too dry. What am I doing wrong? | Can I replace "
                     "{ingredient} with {ingredient} in a {dish}? | How long does {dish} keep?"),
        forum_a=alts("Use {d} more {unit} of {ingredient} and bake it {d} minutes less. | Yes, but use only "
                     "half of the {ingredient}, it is stronger. | About {d} days in the fridge if you cover "
                     "it well.")),
    "travel": dict(
        section="travel destinations guides trips".split(), sub="europe asia africa americas tips".split(),
        titles=alts("{d} days in {place}: a travel guide | What to see in {place} | From {place} to {place} "
                    "by {transport} | Budget tips for {place} | Our trip to {place}"),
        lines=alts("We arrived in {place} on a {day} morning after a {n}-hour {transport} ride. | A room "
                   "near {sight} costs about {n} dollars per night in {month}. | The {transport} from the "
                   "airport to the center takes {n} minutes and costs {d} euros. | Do not miss {sight}, "
                   "which is open every day except {day}. | We walked {d} kilometers along the coast of "
                   "{place} and had lunch at a small cafe. | The best time to visit {place} is {month}, when "
                   "the weather is mild. | Entry to {sight} is free on the first {day} of the month. | Our "
                   "guide, {name}, told us stories about {place} since {year}. | Pack light: the {transport} "
                   "allows one bag of {n} kilograms. | From {place}, it is an easy day trip to {place} by "
                   "{transport}. | Hotel prices in {place} rose by {pct} percent since last year, so book "
                   "early. | The view from {sight} at sunset was the highlight of our {d}-day trip."),
        bank=dict(place=alts("Lisbon | Kyoto | Cape Town | Reykjavik | Cusco | Vienna | Hanoi | Marrakesh | "
                             "Quebec | Bergen | Tbilisi | Oaxaca"),
                  sight=alts("the old cathedral | the harbor | the night market | the castle | the national "
                             "museum | the botanical garden | the river walk"),
                  transport=alts("train | ferry | bus | night bus | tram | taxi")),
        forum_q=alts("Is {d} days enough for {place}? | What is the cheapest way from {place} to {place}? | "
                     "Is {sight} in {place} worth it in {month}?"),
        forum_a=alts("Take the {transport}, it costs about {n} dollars and takes {d} hours. | I would spend "
                     "at least {d} days, {sight} alone takes a full day. | Go early, by {d} in the morning "
                     "the queue is long.")),
    "news": dict(
        section="news politics local economy".split(), sub="city region business opinion updates".split(),
        titles=alts("{org} approves plan for {issue} | Debate over {issue} continues in {city} | New poll on "
                    "{issue} | {official} defends the decision on {issue}"),
        lines=alts("{org} voted on {day} to approve a plan for {issue}. | The plan for {issue} will cost "
                   "{big} million dollars over {d} years, officials said. | {official}, who leads {org}, "
                   "told reporters that the decision was difficult. | Unemployment in {city} fell to {dec} "
                   "percent in {month}, the lowest level since {year}. | Critics of {org} say the numbers do "
                   "not add up and want an independent review. | Inflation rose by {dec} percent, pushing up "
                   "the cost of {issue}. | Balancing taxes and spending on {issue} is a difficult equation, "
                   "{official} said. | About {pct} percent of residents support the plan, according to a "
                   "poll from {month}. | The average rent in {city} has increased to {big} dollars a month. "
                   "| A public meeting about {issue} will take place on {day} in {city}. | Protesters "
                   "gathered outside the offices of {org} on {day}. | The report counts {big} new homes "
                   "built in {city} since {year}."),
        bank=dict(org=alts("the city council | the ministry of transport | the central bank | the regional "
                           "government | the school board | the health agency"),
                  issue=alts("housing | public transport | the new bridge | water prices | the budget | road "
                             "repairs | the hospital"))),
    "software": dict(
        section="docs blog dev engineering".split(), sub="guides releases api tutorials howto".split(),
        titles=alts("Release notes for version {d}.{d} | How to fix a {err} in {lang} | Getting started with "
                    "{tool} | Why we moved our backend to {lang} | Debugging {fn} in {lang}"),
        lines=alts("Version {d}.{d}.{d} of {tool} is out and fixes {n} bugs. | The function {fn} returns an "
                   "integer error code, or zero on success. | To install {tool}, pin version {d}.{d} in your "
                   "lock file. | If {fn} raises a {err}, check that the variable is set before the call. | "
                   "We rewrote the module in {lang} and the startup time dropped by {pct} percent. | Each "
                   "worker handles about {big} requests per second on a small server. | The new release of "
                   "{tool} adds a flag to limit memory to {n} megabytes. | Store the result in a variable "
                   "and pass it to {fn} as the second argument. | After the change the sum of all latencies "
                   "fell from {n} to {d} milliseconds. | {fn} sorts the array in place, so the original "
                   "order is lost. | Thanks to {name} for the patch that makes {tool} work on older "
                   "machines. | Set the timeout of {fn} to {n} seconds if your network is slow. | Unit tests "
                   "now cover {pct} percent of the {lang} code base."),
        bank=dict(lang=alts("Python | Rust | Go | JavaScript | Java | C++ | TypeScript"),
                  tool=alts("the compiler | the package manager | the build system | the linter | the "
                            "debugger"),
                  fn=alts("parse_config | load_user | read_file | sort_items | send_request | open_socket"),
                  err=alts("KeyError | NullPointerException | segmentation fault | timeout error | "
                           "type error")),
        forum_q=alts("My {lang} script throws a {err} when I call {fn}. | How do I make {tool} ignore one "
                     "folder? | Why is my build {n} seconds slower after the update to {d}.{d}?"),
        forum_a=alts("You need to set the variable before calling {fn}. | Update {tool} to version {d}.{d}, "
                     "it was fixed. | Run {fn} with the verbose flag and post the output here.")),
}
# non-math pages with much math in them (labelled is_math = False): the parent topic's prose mixed
# with these lines, and on half of them a computed example; bait for false positives
BORDERLINE = {
    "news-math-education": ("news", alts(
        "Students at {school} scored an average of {pct} percent on the regional algebra exam. | The math "
        "olympiad in {city} drew {big} students from {d} schools. | Teachers in {city} say word problems "
        "about fractions remain the hardest part of the test. | {official} announced {big} thousand dollars "
        "for new geometry textbooks at {school}. | The team from {school} solved {d} of the {n} olympiad "
        "problems, one about prime numbers. | Parents asked the school board for more homework help in "
        "arithmetic and algebra. | A study in {city} found that {pct} percent of pupils use calculators for "
        "multiplication.")),
    "software-numeric": ("software", alts(
        "The function solve returns the vector x such that A x = b for a square matrix A. | Use sum to add "
        "the {n} elements of the array; it returns zero for an empty array. | Matrix multiplication in "
        "{lang} is about {n} times faster than a loop. | The random module draws integers uniformly between "
        "{d} and {n}. | Version {d}.{d} adds gcd, the greatest common divisor of two integers. | Floating "
        "point rounding means 0.1 + 0.2 does not equal 0.3 exactly in {lang}. | The sqrt function raises an "
        "error for negative inputs unless complex mode is on. | Set the tolerance to 1e-{d} if the solver "
        "does not converge after {n} iterations.")),
}
FORUM = dict(
    meta=alts("Posted by {user} on {month} {d}, {year} | Asked by {user} ({big} views) | Thread started by "
              "{user}"),
    opener=alts("Hey everyone, | Hi all, first post here. | Hello, quick question. | Hey guys, hope someone "
                "can help. | Long time lurker here. | Sorry if this was asked before,"),
    stuck=alts("I'm stuck on this one: | can someone explain this to me? | this has been bugging me all "
               "{day}: | my friend and I disagree about this:"),
    attempt=alts("I tried a few things but nothing works. | I keep getting something different from my "
                 "friend. | I spent {n} minutes on it and gave up. | Any hints would be great, thanks!"),
    reply=alts("Reply from {user}: | {user} wrote: | Answer by {user} ({n} points):"),
    chatter=alts("I had the same problem last {month}. | Following this thread. | Good explanation, {user}. "
                 "| This forum saved me so many times. | Welcome to the forum, by the way. | Please mark the "
                 "thread as solved if it works. | Same question here, thanks for asking. | Did you read the "
                 "pinned post? It covers this too. | Happened to me on {day} too, lol."),
    thanks=alts("Thanks, that makes sense now! | Got it, thank you so much. | Oh wow, I missed that. Cheers! "
                "| Perfect, marking this as solved."),
)
WORKED = dict(
    titles=alts("Word problems with solutions, set {n} | Practice: {d} word problems with worked answers | "
                "Homework help: multi-step word problems | Worked examples for grade {d} math | "
                "Math word problems, lesson {n}"),
    intros=alts("Here are {d} word problems with step-by-step solutions. | Try each problem first, then "
                "check the worked solution below. | Each solution writes one computation per line, as on the "
                "exam. | These problems practice addition, subtraction, multiplication and division."),
    outros=alts("Want more practice? Change the numbers and solve again. | Next lesson: problems with {d} "
                "steps. | Tip: write every computation on its own line and check it. | A printable worksheet "
                "with {n} more problems is available for teachers."),
)
DEF_BANK = dict(whole=alts("whole number | natural number | positive integer"),
                subject=alts("number theory | arithmetic | sequences | geometry | elementary algebra"))


# ---------------------------------------------------------------------------- DeepSeek-R1's worlds (r1.sh)
# A second language: DeepSeek-R1's chains of thought mix languages (arXiv 2501.12948 §2.3.2), which its
# language-consistency reward measures in words. Chinese, as in R1: grader.language_words counts one
# ideograph as one "zh" word. A solution in it ends with this sentence instead of "The answer is \\boxed{N}."
# ({n}: N).
SECOND_LANGUAGE_ANSWER = "所以答案是 \\boxed{{{n}}}。"
# Non-reasoning SFT data (R1 §2.3.3 mixes writing, factual QA, ... into its last SFT): write a general text's
# opening sentence from its title.
CHAT_QUESTION = "Write the first sentence of a short text titled \"{title}\"."
