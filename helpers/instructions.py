"""An instruction dataset generated from the skill table: natural language -> task plan text.

Every example is an instruction as a person might type it, with the plan the translator should
write for it (see :mod:`helpers.plans` for the plan language and its semantics). The wording
comes from two disjoint *template pools*:

* ``TRAIN_POOL`` makes the train, validation and test splits (test and validation are new random
  fills of the same templates, never an instruction seen in training);
* ``PARAPHRASE_POOL`` makes the paraphrase split: other verbs, frames, connectors and duration
  phrasings, none of which occurs in the training templates. It measures whether the translator
  learned the meaning or the templates.

Both pools share numbers and units (digits, words, m/s, km/h, mph, minutes), which the normaliser
canonicalises anyway. Generation is seeded and deterministic: the same config gives the same examples.

    >>> data = build_dataset(DatasetConfig(n_train=100, n_val=10, n_test=10, n_paraphrase=10))
    >>> data["train"][0].instruction, data["train"][0].plan
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field

from .normalise import ONES, TENS, convert_duration, convert_speed, normalise
from .plans import UNKNOWN, format_number, plan_text

SPLITS = ("train", "val", "test", "paraphrase")


@dataclass(frozen=True)
class Pool:
    """All the wording of one template pool. ``{x}``: a verb phrase; ``{d}``: a duration;
    ``{v}``: a speed; ``{dir}``: a direction word; ``{np}``: a noun phrase; ``{a} {b} {c}``: steps."""

    verbs: dict[str, list[str]]  # imperative verb phrases per skill ("stand_still" = target_speed 0)
    speed_verbs: list[str]  # target_speed phrases with {v} and optionally {dir}
    walk_speed_verbs: list[str]  # "walk at {v}": walk has no speed goal, the plan is walk
    nouns: dict[str, list[str]]  # descriptions of the motion
    speed_nouns: list[str]
    refusals: list[str]  # requests no skill covers (verb phrases: they take frames and durations)
    chatter: list[str]  # greetings and questions: no skill either, used as they are
    frames: list[str]  # wrappers around a verb phrase (or a whole sequence)
    noun_frames: list[str]
    durations: list[str]  # how a duration attaches to a verb phrase
    noun_durations: list[str]
    sequences2: list[str]  # {a} happens before {b}, whatever the word order
    sequences3: list[str]
    forward: list[str]
    backward: list[str]


TRAIN_POOL = Pool(
    verbs={
        "run_forward": ["run at breakneck speed", "hotfoot it forward", "hightail it ahead", "speed off ahead", "rocket forward", "blast ahead", "streak ahead", "run like mad", "scramble forward", "make tracks forward", "fly forward at speed", "careen ahead", "run for your life", "get moving fast", "sprint off", "jet ahead", "run quick", "book it forward", "hare off ahead", "whoosh forward", "scamper forward", "hasten forward", "run off at speed", "pelt forward", "whizz forward", "dart forward", "shoot forward", "hustle forward", "scoot ahead", "barrel forward", "storm ahead", "run hard", "go forward at a run", "run like crazy", "race off ahead", "run forward at maximum speed", "move as fast as possible", "go at top speed", "run at a sprint", "leg it forward", "make haste forward", "zip forward", "tear ahead", "run your heart out", "high-tail it forward", "put your foot down", "go like lightning", "run forth quickly", "run forward", "run forwards", "sprint forward", "sprint", "run as fast as you can",
                        "go forward as fast as possible", "race ahead", "run ahead at full speed", "charge forward",
                        "gallop forward", "run fast", "move forward quickly", "go full speed ahead",
                        "run straight ahead", "hurry forward", "run forward at top speed", "run", "go forward",
                        "run forward as fast as possible", "sprint ahead", "race forward", "go forward fast",
                        "move forward at full speed", "hurry ahead", "charge ahead", "sprint straight ahead",
                        "run like the wind", "take off running", "go as fast as you can", "run at maximum speed",
                        "run full throttle", "gallop ahead", "run quickly", "run ahead", "move ahead fast",
                        "accelerate forward", "go fast", "race", "tear off forward", "run your fastest",
                        "go forward at top speed", "run at full pelt", "move forward as fast as possible",
                        "run forward quickly", "floor it", "sprint as fast as possible", "run at full speed"],
        "run_backward": ["run backwards at breakneck speed", "hotfoot it backwards", "hightail it in reverse", "rocket backwards", "blast backwards", "streak backwards", "scramble backwards", "beat a hasty retreat", "backtrack quickly", "backtrack at speed", "fall back fast", "fly backwards at speed", "sprint backward", "speed off backwards", "run backwards like mad", "get back fast", "scamper backwards", "dart backwards", "shoot backwards", "hasten backwards", "move back fast", "run backwards like crazy", "reverse as fast as possible", "go in reverse at top speed", "race back", "withdraw quickly", "run back the way you came", "storm backwards", "hustle backwards", "back off fast", "move backwards at top speed", "scoot backwards", "reverse hard", "zip backwards", "sprint the other way", "run in retreat", "reverse away quickly", "go backwards at full speed", "leg it backwards", "whizz backwards", "run backward", "run backwards", "sprint backwards", "go backwards as fast as you can",
                         "run in reverse", "reverse at full speed", "back up quickly", "retreat quickly",
                         "race backwards", "move backward fast", "go backward", "run back", "back up",
                         "sprint in reverse", "run backwards at top speed", "go in reverse fast",
                         "move backwards quickly", "back up fast", "reverse quickly", "run backward as fast as possible",
                         "sprint back", "race in reverse", "charge backwards", "hurry backwards", "retreat",
                         "go back as fast as you can", "move in reverse at full speed", "run in the backward direction",
                         "gallop backwards", "back off quickly", "run back quickly", "race backward",
                         "reverse at top speed", "go backwards fast", "run backwards quickly", "reverse",
                         "go backwards", "move backwards at maximum speed"],
        "jump": ["jump for joy", "pogo up and down", "jump like a frog", "catapult yourself up", "propel yourself upward", "hurl yourself into the air", "fling yourself upward", "vault upward", "take off vertically", "lift off the ground", "do star jumps", "hop skyward", "jump upwards over and over", "leap like a frog", "jump clear of the ground", "jump straight up", "leap upward", "jump about", "hop high", "go airborne", "jump off the ground", "jump vertically", "do a standing jump", "hop like a rabbit", "jump like a kangaroo", "vault into the air", "jump skyward", "hop about", "do a hop", "hop around", "jump up and down on the spot", "do a series of jumps", "pounce up and down", "make a jump", "jump as high as you are able", "take off from the ground in a jump", "jump", "jump up and down", "jump in place", "do some jumps", "leap", "leap into the air", "hop",
                 "hop up and down", "jump as high as you can", "get all four feet off the ground", "keep jumping",
                 "do a jump", "jump up", "jump high", "do jumps on the spot", "jump around", "jump repeatedly",
                 "do a big jump", "jump into the air", "leap up", "leap around", "keep hopping", "hop in place",
                 "jump on the spot", "jump up high", "do a vertical jump", "jump as high as possible",
                 "leap repeatedly", "get airborne", "take a jump", "jump continuously", "jump upward",
                 "pop up into the air", "vault up", "do some hops", "hop on the spot", "leap as high as you can"],
        "front_flip": ["do a forward rotation in the air", "turn a somersault", "somersault in mid-air", "do a forward 360", "flip over your head going forward", "do a full forward revolution", "revolve forward in the air", "throw a forward somersault", "do a front flip in mid-air", "go head over tail forwards", "spin forward head first", "do a flip in the forward direction", "complete a forward revolution", "do a forward somersault in mid-air", "flip over forward", "do a forward salto", "do a flip going forward", "do one front flip", "complete a front flip", "land a front flip", "flip forward in the air", "do a forward spin in the air", "perform a flip", "do an airborne flip", "flip end over end", "turn over forwards in the air", "do a nose-first flip", "throw a front flip", "try a front flip", "do a somersault going forward", "somersault ahead", "flip yourself forwards", "show off a front flip", "do a front flip", "front flip", "flip forward", "do a forward flip", "do front flips",
                       "do a somersault", "somersault forward", "flip over forwards", "do a flip", "flip",
                       "do some front flips", "perform a front flip", "flip forwards", "flip head first",
                       "do a front somersault", "spin forward in the air", "flip over", "do a full flip forward",
                       "do flips", "keep flipping", "flip nose first", "turn a front flip", "front-flip",
                       "do a front salto", "flip end over end going forward", "somersault", "do front somersaults",
                       "execute a front flip", "nail a front flip", "do a forward flip in the air",
                       "do a flip forward", "spin forwards head over tail"],
        "walk": ["meander forward", "promenade", "ramble along", "perambulate", "traipse forward", "walk at a relaxed speed", "walk casually", "go on foot", "hoof it", "sashay forward", "trudge forward", "tramp forward", "plod along", "walk unhurriedly", "take a casual walk", "take a gentle walk", "walk at walking speed", "step out", "walk, don't run", "walk calmly on your legs", "walk at a comfortable speed", "go for a ramble", "walk on", "walk at a gentle speed", "saunter forward", "mosey along", "walk calmly", "go walk", "tread forward", "step ahead", "plod forward", "toddle along", "walk along the path", "walk slowly forward", "saunter along", "march ahead", "walk forth", "shuffle forward", "take a hike", "walk at an easy speed", "walk like people do", "put one foot in front of the other", "go for a walk forward", "walk gently", "walk", "walk forward", "walk forwards", "take a walk", "go for a walk", "walk on two legs",
                 "walk like a person", "walk ahead", "step forward", "march forward", "walk without falling",
                 "start walking", "walk on two feet", "walk along", "walk slowly", "take some steps forward",
                 "walk a bit", "walk straight", "walk normally", "walk steadily forward", "walk like a human",
                 "take a few steps", "start marching", "march", "walk around", "go walking", "keep walking",
                 "step along", "walk forward carefully", "walk without tripping", "do some walking",
                 "take steps forward", "hike forward", "walk straight ahead", "go for a short walk"],
        "stand_up": ["get up on two legs", "stand up on your legs", "assume a standing posture", "rise up to stand", "stand erect", "scramble to your feet", "struggle to your feet", "regain your footing", "find your feet", "get off your back and stand", "get yourself standing", "become vertical", "go vertical", "stop lying on the floor", "get yourself off the floor", "get vertical", "come up to standing", "right yourself", "get onto your feet", "haul yourself up", "stand on your feet", "get up and stand", "return to standing", "recover to your feet", "stand up from lying", "pick yourself up off the floor", "straighten up and stand", "get back to standing", "heave yourself up", "get off the floor and stand", "go from lying to standing", "get up after falling", "stand up", "get up", "get up off the floor", "stand up from the ground", "get back on your feet",
                     "rise to your feet", "pick yourself up", "get up from lying down", "recover and stand",
                     "stand", "get on your feet", "get up from the ground", "stand up straight", "get to your feet",
                     "stand yourself up", "get off the ground", "get up off the ground", "rise",
                     "push yourself up", "push up to standing", "get back up", "recover to standing",
                     "get yourself up", "stand from lying down", "get up from the floor", "recover", "stand tall",
                     "get up on your feet", "stop lying down and stand"],
        "stand_still": ["do not move", "stop all movement", "cease all motion", "halt all motion", "stay idle", "stay immobile", "don't take a step", "stand your ground", "stop in your tracks", "stop dead in your tracks", "keep completely still", "stand there", "stay here", "wait", "take a rest", "don't budge", "keep still", "stop where you are", "halt in place", "cease moving", "stand stock still", "hold steady", "pause", "stop dead", "wait here", "hold it right there", "stop completely", "come to a halt", "don't move a muscle", "stay stopped", "do nothing", "stay at rest", "rest in place", "stand still", "stop", "stop moving", "stay in place", "hold still", "halt",
                        "don't move at all", "stay still", "be still", "stop running", "hold your position",
                        "stand in place", "don't go anywhere", "stay where you are", "wait in place",
                        "hold position", "come to a stop", "brake", "stop right there", "don't move"],
    },
    speed_verbs=["hurry {dir} at {v}", "hustle {dir} at {v}", "sprint at {v} {dir}", "stay at {v} {dir}", "keep {v} {dir}", "do {v} {dir}", "clock {v} {dir}", "motor {dir} at {v}", "zip along at {v} {dir}", "hold a velocity of {v} {dir}", "keep it at {v} {dir}", "target a speed of {v} {dir}", "track a speed of {v} {dir}", "match a speed of {v} {dir}", "hit {v} {dir} and hold it", "navigate {dir} at {v}", "move along {dir} at {v}", 'scamper {dir} at {v}', 'cover ground {dir} at {v}', 'hold a steady {v} {dir}', 'run {dir}, speed {v}', 'speed: {v} {dir}', 'jog {dir} with {v}', 'travel {dir} with a speed of {v}', 'run {dir} at roughly {v}', 'at a speed of {v}, go {dir}', 'keep to {v} {dir}', 'run {dir} at {v} exactly', 'lope {dir} at {v}', 'canter {dir} at {v}', 'scoot {dir} at {v}', 'dart {dir} at {v}', 'shuffle {dir} at {v}', 'go {dir} at a speed of {v}', 'move {dir} at speed {v}', 'walk-run {dir} at {v}', 'tootle {dir} at {v}', 'drive yourself {dir} at {v}', 'make your way {dir} at {v}', "run {dir} at {v}", "run at {v} {dir}", "move {dir} at {v}", "go {dir} at {v}", "run at {v}",
                 "jog {dir} at {v}", "hold a speed of {v} {dir}", "keep a steady {v} {dir}", "maintain {v} {dir}",
                 "run {dir} at a speed of {v}", "go at {v}", "travel {dir} at {v}", "run {dir} with a speed of {v}",
                 "sprint {dir} at {v}", "set your speed to {v} {dir}", "move at exactly {v}", "run {dir} {v}",
                 "go {v} {dir}", "move {dir} with a velocity of {v}", "go {dir} with velocity {v}",
                 "run {dir} at a velocity of {v}", "keep your speed at {v} {dir}", "hold {v} {dir}",
                 "maintain a speed of {v} {dir}", "run steadily at {v} {dir}", "go {dir} at exactly {v}",
                 "move at a speed of {v} {dir}", "keep moving {dir} at {v}", "run {dir} at about {v}",
                 "travel at a speed of {v} {dir}", "your speed should be {v} {dir}", "set speed to {v} {dir}",
                 "target speed {v} {dir}", "at {v}, run {dir}", "run with {v} {dir}", "move {dir} {v}",
                 "keep a velocity of {v} {dir}", "jog at {v} {dir}",
                 "run {dir} at a steady {v}", "move {dir} steadily at {v}", "race {dir} at {v}",
                 "gallop {dir} at {v}", "run at a speed of {v} {dir}", "keep running {dir} at {v}"],
    walk_speed_verbs=["walk at {v}", "walk forward at {v}", "walk at about {v}"],
    nouns={
        "run_forward": ["a forward sprint", "a fast run forward", "a full-speed run", "some fast running forward",
                        "a sprint", "a race forward", "full speed ahead", "a forward gallop", "some sprinting"],
        "run_backward": ["a backward sprint", "a fast run backwards", "some running in reverse",
                         "a full-speed retreat", "a sprint in reverse", "some fast reversing", "a backwards run"],
        "jump": ["a jump", "some jumps", "a big leap", "a few hops", "jumping in place", "a high jump",
                 "some jumping", "a leap into the air", "a few jumps"],
        "front_flip": ["a front flip", "a forward flip", "a somersault", "some front flips", "a flip",
                       "some flips", "a front salto"],
        "walk": ["a walk", "a walk forward", "some walking", "a short walk on two legs", "a little walk",
                 "a march forward", "a few steps forward"],
        "stand_up": ["standing up", "getting up off the floor", "a recovery to standing", "getting up",
                     "getting back on your feet"],
        "stand_still": ["standing still", "a full stop", "no movement at all", "staying in place"],
    },
    speed_nouns=["a run at {v} {dir}", "a steady jog at {v} {dir}", "running {dir} at {v}", "a {v} run {dir}",
                 "moving {dir} at {v}", "a jog {dir} at {v}"],
    refusals=['fold the laundry', 'vacuum the floor', 'answer the phone', 'write an essay', 'play the drums', 'recite a poem', 'make the bed', 'go to school', 'drive to work', 'fix the car', 'buy some milk', 'pay the bills', 'check my email', 'do my homework', 'play tennis', 'go fishing', 'go bowling', 'jump rope', 'do a headstand', 'do a cartwheel backwards', 'do a backward flip', 'flip backward', 'do a reverse flip', 'roll forward on the ground', 'spin in place', 'turn to the left', 'turn to the right', 'walk backwards', 'walk sideways', 'run sideways', 'move sideways', 'strafe left', 'climb over the fence', 'swim underwater', 'sit down on the floor', 'lie down and sleep', 'take a nap', 'eat your dinner', 'drink a coffee', 'sing a lullaby', 'tell a riddle', 'recommend a movie', 'what is two plus two', 'how tall is mount everest', 'write some code', 'hack the server', 'format the disk', 'open the garage', 'plant a tree', 'paint the wall', 'wash the car', 'clean your room', 'hug me', 'give me a high five', 'shake your tail', 'blink twice', 'wiggle your toes', 'point at the sky', 'throw the ball to me', 'catch the ball', 'dribble the ball', 'shoot a basket', 'ride a horse', 'fly a plane', 'steer left', 
        "fly to the moon", "make me a sandwich", "swim", "swim across the lake", "climb a tree", "sing a song",
        "tell me a joke", "turn left", "turn right", "do a backflip", "do a back flip", "flip backwards",
        "do a cartwheel", "dance", "dance the tango", "crawl on the floor", "crawl", "sit down", "lie down",
        "roll over", "fetch the ball", "open the door", "write a poem", "play chess", "drive the car",
        "cook dinner", "tell me the time", "wave hello", "kick the ball", "throw a rock", "juggle three balls",
        "spin around in circles", "turn around", "do a handstand", "bark like a dog", "go to sleep", "eat an apple",
        "fly", "dig a hole", "ride a bike", "paint a picture", "book a flight to paris", "wash the dishes",
        "count to ten", "do the laundry", "call my mom", "climb the wall", "do push-ups", "do a split",
        "breathe deeply", "close your eyes", "nod your head", "shake hands", "pick up the box", "push the button",
        "play the guitar", "read a book", "send an email", "smile", "laugh", "hover in the air",
        "slide down the hill", "ski down the mountain", "surf", "balance on one foot", "crouch", "kneel",
        "lie on your back", "sit still", "fly to mars", "jump off a cliff into the sea", "run a marathon in london",
        "walk the dog", "stand on your head", "do a back handspring", "roll sideways", "fly like a bird",
        "climb up the ladder", "sit on the chair", "turn on the lights", "play some music", "take out the trash",
        "make coffee", "play football", "throw the frisbee", "scratch your back", "purr", "meow", "growl", "roar",
        "chase the mouse", "hunt a gazelle", "roll on the grass", "sleep in the shade", "climb onto the rock",
        "swim across the river", "hide behind the tree", "turn your head", "look left", "look up",
        "raise your paw", "wag your tail", "sit", "lie on the ground", "curl up", "yawn", "sneeze",
        "open the window", "close the door", "send a text", "book a table", "set an alarm",
        "calculate 5 times 7", "explain quantum physics", "give me the weather", "tell me a story", "play a game",
        "print hello world", "delete all files", "shut down", "reboot the computer", "run a bath",
        "run the dishwasher", "flip a coin", "flip the pancake", "do a backward roll", "roll backwards",
        "do a side flip", "flip sideways", "do the moonwalk", "float in the air", "skydive", "do a barrel roll", "spin on the spot", "shake your body",
        "wave goodbye", "stretch", "do sit-ups", "lift weights", "climb a mountain", "go up the stairs",
        "drink some water", "walk on your hands",
    ],
    chatter=['good night', 'how old are you?', 'tell me something', 'are you a robot?', 'what time is it?', "what's the weather like?", 'i am bored', 'you there?', 'bye', 'see you later', 'yes', 'no', 'maybe', 'hmm', 'asdf', 'can we talk?', 'please help me', 'where am i?', "hello", "hi there", "what can you do?", "thank you", "who are you?", "what is the capital of france?",
             "good evening", "hey", "thanks a lot", "nice job", "how's it going?", "what's up?", "are you there?",
             "help", "what skills do you have?", "ok", "never mind", "is anyone listening?", "lol", "test test"],
    frames=["i request that you {x}", "please, would you {x}", "it'd be nice if you'd {x}", "care to {x}?", "feel free to {x}", "go and {x}", "now go {x}", "how about we {x}?", "let's see you {x}", "see if you can {x}", "would it be possible to {x}?", "ready? {x}", "on my mark, {x}", "when i say go, {x}", "all right, {x}", "yes, {x}", "good, now {x}", "excellent, {x}", "my request: {x}", "i'd be grateful if you'd {x}", "step one: {x}", "get the body to {x}", "the robot needs to {x}", "make your agent {x}", 'please go ahead and {x}', 'i would like you to {x}', "i'd like you to {x} please", '{x}, thank you', '{x}, thanks a lot', '{x}, mate', '{x}, buddy', '{x} asap', '{x} at once', 'at once, {x}', 'right, {x}', 'well, {x}', 'um, {x}', '{x}, when ready', "whenever you're ready, {x}", "{x} if you don't mind", 'would you be able to {x}?', 'are you able to {x}?', 'your job is to {x}', 'your goal is to {x}', 'the goal is to {x}', 'order: {x}', 'mission: {x}', 'objective: {x}', 'do the following: {x}', "here's what i want: {x}", 'listen up: {x}', 'attention, {x}', 'right then, {x}', '{x}, pronto', '{x}, chop chop', '{x}, go go go', '{x}, thank you very much', "{x}, that's all", '{x}, nothing else', 'please make sure to {x}', 'make sure you {x}', 'remember to {x}', "don't forget to {x}", "i'd really like you to {x}", 'you are to {x}', '{x}, will you?', '{x}, ok', '{x}, got it?', '{x}, understood?', '{x} please and thank you', '{x}, quickly', 'i want you to {x} now', 'please {x}, thanks', 'hi, {x}', 'hello, can you {x}?', 'ok robot, {x}', 'simulation: {x}', 'test: {x}', 'the cheetah will {x}', 'get the robot to {x}', 'have the agent {x}', 'we want you to {x}', 'uh, {x}', '{x}, haha', '{x} :)', 'pls {x}', '{x} plz', "{x}", "{x}", "{x}", "{x}", "{x}", "please {x}", "{x}, please", "can you {x}?", "could you {x}?",
            "i want you to {x}", "now {x}", "{x} now", "go ahead and {x}", "i'd like you to {x}", "you should {x}",
            "try to {x}", "time to {x}", "let's {x}", "make the robot {x}", "i want the agent to {x}",
            "the robot should {x}", "{x}!", "ok, {x}", "hey, {x}", "{x}, thanks", "please, {x}.",
            "can you please {x}?", "make it {x}", "i'd like the cheetah to {x}", "robot, {x}",
            "please can you {x}", "would you please {x}", "could you please {x}?", "i want to see you {x}",
            "show me how you {x}", "let me see you {x}", "{x}, ok?", "{x}, go!", "quick, {x}", "go on, {x}",
            "you need to {x}", "you have to {x}", "you must {x}", "i'd like it to {x}", "tell the robot to {x}",
            "tell the cheetah to {x}", "the cheetah should {x}", "the humanoid should {x}", "have it {x}",
            "have the robot {x}", "get it to {x}", "can the robot {x}?", "is it possible to {x}?",
            "please just {x}", "just {x}", "{x} for me", "{x}, would you?", "hey robot, {x}", "okay now {x}",
            "now, please {x}", "{x} immediately", "start to {x}", "begin to {x}",
            "i'd appreciate it if you could {x}", "goal: {x}", "{x}. thanks!", "please {x} now", "we need you to {x}",
            "i want the cheetah to {x}", "make the agent {x}", "cheetah, {x}", "agent, {x}", "can you {x} please?",
            "be nice and {x}", "do me a favour and {x}", "go on and {x}", "hurry up and {x}", "try and {x}",
            "come on and {x}", "be so kind as to {x}", "listen, {x}", "so, {x}", "{x} as soon as you can",
            "{x} if possible", "{x} right now", "{x}, if you can"],
    noun_frames=["put on {np}", "let me watch {np}", "i am after {np}", "could you show {np}?", "{np} would be nice", "give us {np}", "we'd like {np}", "present {np}", 'perform {np}', 'i wish to see {np}', 'can i see {np}?', 'could i get {np}?', "i'd enjoy {np}", 'start {np}', 'begin {np}', 'we need {np}', 'display {np}', 'execute {np}', 'do {np} for me', 'up next: {np}', 'request: {np}', 'may i see {np}?', 'go for {np}', "show me {np}", "i'd like to see {np}", "i want {np}", "give me {np}", "{np}, please",
                 "let's see {np}", "{np}", "i want to see {np}", "how about {np}?", "time for {np}", "{np} now",
                 "do {np}", "i'd like {np}", "show {np}", "please perform {np}"],
    durations=["{x} for a span of {d}", "{x} for a stretch of {d}", "{x}, {d} in all", "{x} and sustain it for {d}", "{x} and maintain that for {d}", "{x} for {d} total", "{x} for an interval of {d}", "{x} till {d} pass", "{x}, and persist for {d}", "{x} and go on for {d}", "{x} for a full {d}", "{x} the whole {d}", '{x} for {d} or so', '{x} for {d} please', '{x} for a good {d}', '{x} until {d} have passed', '{x}, {d} long', '{x} for the following {d}', '{x} for at least {d}', '{x} ({d} in total)', '{x} for about {d} or so', 'for {d} straight, {x}', 'over {d}, {x}', 'during {d}, {x}', '{x} over {d}', 'for a total of {d}, {x}', '{x} and keep that up for {d}', '{x}, and stick with it for {d}', '{x} for {d} without stopping', '{x} nonstop for {d}', 'take {d} to {x}', "{x} for {d}", "{x} for {d}", "{x} for {d}", "for {d}, {x}", "{x} for about {d}",
               "{x} for the next {d}", "{x} for {d} straight", "{x} during {d}", "{x} for a total of {d}",
               "{x} for roughly {d}", "{x} for exactly {d}", "{x} for around {d}", "{x}, for {d}",
               "{x} for {d} in total", "do this for {d}: {x}", "{x} for just {d}", "for the next {d}, {x}",
               "for about {d}, {x}", "{x} ({d})", "{x} - {d}", "{x} for {d} only", "keep going for {d}: {x}",
               "{x} and keep going for {d}", "{x} and hold it for {d}", "{x} and do that for {d}",
               "{x}, and carry on for {d}", "{x} and don't stop for {d}", "{x}, keep at it for {d}"],
    noun_durations=['{d} of {np}', '{np} for the next {d}', '{np} during {d}', '{np}, {d} long', 'give me {d} of {np}', "{np} for {d}", "{np} for about {d}", "{np} ({d})"],
    sequences2=["{a}, and next {b}", "{a}, then next {b}", "{a}. next up: {b}", "{a}, and from there {b}", "{a}; following that, {b}", "{a}, and when that's over, {b}", "{a}, after which you {b}", "step one: {a}. step two: {b}", "{a}, and directly after {b}", "{a}, and after it {b}", "{a}. later, {b}", "{a}; {b} next", "{a}, next {b}", '{a}, thereafter {b}', '{a}, and eventually {b}', '{a}, then right after {b}', '{a}; and then {b}', '{a}, then go on to {b}', '{a} and then go and {b}', '{a}, and then after that {b}', '{a} and later on {b}', '{a}. after this, {b}', 'after you {a}, {b}', 'as soon as you {a}, {b}', '{a}; after that {b}', '{a}. and then {b}', 'start with this: {a}, then {b}', '{a}, and in the end {b}', '{a}, then finally {b}', '{a} and finally {b}', '{b}, but before that {a}', '{a}, then at the end {b}', "{a}, then {b}", "{a} and then {b}", "{a}, and after that {b}", "{a}. then {b}", "{a} then {b}",
                "first {a}, then {b}", "{a}, after which {b}", "{b} after you {a}", "before you {b}, {a}",
                "{a}, and then {b}", "{a}; then {b}", "{a}, after that {b}", "{a}. after that, {b}",
                "{a} and after that {b}", "{a}. then, {b}", "{a} - then {b}", "{a}, later {b}", "{a}, and later {b}",
                "{a}; after this, {b}", "{a} first, then {b}", "first {a}, and after that {b}", "{a}, and finally {b}",
                "{a}, then immediately {b}", "{b}, but first {a}", "{b}, after you {a}", "{a} before you {b}",
                "{a}. {b}", "{a}, {b}", "{a}. {b}.", "{a} and {b} after that", "first, {a}. second, {b}",
                "{a}, then straight after {b}"],
    sequences3=["{a}, next {b}, then {c}", "step one: {a}. step two: {b}. step three: {c}", "{a}; following that, {b}; and then {c}", "{a}, and from there {b}, and in the end {c}", '{a}, {b}, and then {c}', '{a}, after that {b}, and finally {c}', '{a}, then {b}, finally {c}', 'first {a}; then {b}; then {c}', '{a}, thereafter {b}, and eventually {c}', '{a} and then {b} and then {c}', '{a}. after this, {b}. in the end, {c}', "first {a}, then {b}, and finally {c}", "{a}, then {b}, then {c}", "{a}, {b} and then {c}",
                "{a}, then {b} and then {c}", "first {a}, then {b}, then {c}", "{a}, {b}, then {c}",
                "{a}. {b}. {c}.", "{a}; {b}; {c}", "first {a}, second {b}, third {c}",
                "{a}, then {b}, and after that {c}", "{a}, after that {b}, then {c}", "{a} then {b} then {c}",
                "first {a}. then {b}. finally {c}.", "{a}, and then {b}, and then {c}", "{a}. then {b}. then {c}"],
    forward=["in a forward direction", "ahead of you", "in the positive direction", "the right way", 'forth', 'in front', 'facing forward', 'nose-first', 'headfirst', 'the normal way', 'downrange', 'along the track', 'away from the start', "in the direction you're facing", 'the usual way', 'straight forward', "", "", "", "", "forward", "forwards", "ahead", "straight ahead", "in the forward direction", "nose first",
             "straight on", "the way you're facing"],
    backward=["in the negative direction", "behind you", "towards your tail", "backwardly", 'in retreat', 'tail-first', 'the wrong way', 'towards the start', 'back to the start', 'to the back', 'backwards direction', 'away from where you face', 'in the backwards direction', "backward", "backwards", "in reverse", "back", "in the backward direction", "backward direction",
              "the other way", "in the opposite direction", "tail first", "back the way you came"],
)

PARAPHRASE_POOL = Pool(
    verbs={
        "run_forward": ["dash ahead", "bolt forwards", "zoom forward", "rush ahead at top speed", "speed forward",
                        "hurtle onward", "go flat out toward the front", "run to the front as quick as you can",
                        "make a run for it", "dash to the front", "bolt ahead"],
        "run_backward": ["dash backwards", "scurry back", "back away at top speed", "hurry in reverse",
                         "rush rearwards", "go flat out in reverse", "bolt backwards", "speed backward",
                         "zoom backwards", "retreat at full tilt"],
        "jump": ["spring into the air", "bounce up high", "launch yourself upward", "hop around on the spot",
                 "get some air", "bound up and down", "bounce around", "leap up high", "take a big jump"],
        "front_flip": ["perform a forward somersault", "tumble forwards through the air", "do a front tuck",
                       "turn head over heels going forward", "rotate forward in a full flip", "pull off a frontflip",
                       "do a forward aerial roll", "do a frontflip"],
        "walk": ["stroll ahead", "amble forwards", "take a leisurely stroll", "pace forward on foot",
                 "wander forward step by step", "go on a little walk", "stride ahead", "trek forward on two legs",
                 "stroll along"],
        "stand_up": ["climb back to your feet", "rise up off the ground", "lift yourself upright",
                     "pull yourself up to standing", "get upright again", "raise yourself from the floor",
                     "come to a standing position", "stand back up"],
        "stand_still": ["freeze", "remain stationary", "come to a standstill", "stay put", "keep perfectly still",
                        "stay motionless"],
    },
    speed_verbs=["cruise {dir} at {v}", "pace yourself at {v} {dir}", "settle into a pace of {v} {dir}",
                 "aim for a velocity of {v} {dir}", "stick to {v} {dir}", "head {dir} at a constant {v}",
                 "trot {dir} at {v}", "glide {dir} at {v}", "keep the speedometer on {v} {dir}", "advance at {v}",
                 "proceed {dir} at a rate of {v}", "locomote at {v} {dir}", "dash {dir} at {v}"],
    walk_speed_verbs=["stroll at {v}"],
    nouns={
        "run_forward": ["a dash to the front", "a flat-out charge ahead", "maximum speed going forward",
                        "a quick burst forward"],
        "run_backward": ["a dash in reverse", "a rapid retreat to the rear", "top-speed backpedalling"],
        "jump": ["a bunch of leaps into the air", "some bouncing", "a high spring upward"],
        "front_flip": ["a forward somersault", "a front tuck", "a frontflip"],
        "walk": ["a stroll", "a leisurely amble forward", "a little wander forward"],
        "stand_up": ["rising to a standing position", "getting upright again"],
        "stand_still": ["a complete standstill", "total stillness"],
    },
    speed_nouns=["a cruise at {v} {dir}", "a constant pace of {v} {dir}", "moving {dir} at a steady {v}"],
    refusals=[
        "bake a cake", "levitate", "teleport home", "solve this equation", "do a backward somersault",
        "skateboard down the street", "order a pizza", "translate this into french", "clap your hands",
        "whistle a tune", "knit a scarf", "climb the stairs", "parallel park the car", "wave your arms", "meditate",
        "brush your teeth", "play the piano", "take a photo", "water the plants", "feed the cat", "tie your shoes",
        "text my friend", "do a pirouette", "dive into the pool", "row a boat", "do yoga", "sing happy birthday",
        "go shopping", "mow the lawn", "build a sandcastle", "do a backwards flip", "lay flat on the floor", "scratch your ear", "do a somersault backwards",
        "swing on the rope", "fly a kite", "buy me a coffee", "rotate to face left",
    ],
    chatter=["good morning", "how are you doing?", "can you hear me?", "greetings", "what is your name?"],
    frames=["kindly {x}", "would you {x}?", "i need you to {x}", "your task is to {x}", "how about you {x}?",
            "next, {x}", "be a dear and {x}", "on my signal, {x}", "{x}, if you would", "command: {x}",
            "it would be great if you could {x}", "alright, {x}", "get the character to {x}",
            "i'd love it if you would {x}", "the agent must {x}", "instruction: {x}", "yo, {x}", "{x}, cheers",
            "{x} right away", "i'm asking you to {x}"],
    noun_frames=["demonstrate {np}", "i'm hoping for {np}", "treat me to {np}", "what i'd love is {np}",
                 "let's have {np}", "can we get {np}?"],
    durations=["{x} and keep it up for {d}", "{x}, lasting {d}", "{x} over a period of {d}",
               "{x} throughout the next {d}", "{x} with a duration of {d}", "{x} and continue for {d}",
               "spend {d} on this: {x}"],
    noun_durations=["{np} lasting {d}"],
    sequences2=["{a}; next, {b}", "{a}, and once that's done, {b}", "{a}. afterwards, {b}", "{a}, subsequently {b}",
                "{a} and right after that {b}", "to begin, {a}; after that, {b}", "{a}. when you're done, {b}",
                "{b}, but only once you {a}", "once you {a}, {b}", "{a}, followed by this: {b}"],
    sequences3=["to begin, {a}; next, {b}; lastly, {c}", "{a}. afterwards, {b}. to finish, {c}",
                "{a}; next, {b}; after that, {c}", "{a}, subsequently {b}, and at the end {c}"],
    forward=["", "", "frontwards", "to the front", "onward"],
    backward=["rearwards", "toward the rear", "in the reverse direction", "rearward"],
)

# Content words only the paraphrase pool uses: no training template contains them (a test checks),
# so the paraphrase split asks for verbs and phrasings the translator has never been trained on.
PARAPHRASE_ONLY_WORDS = {
    "dash", "bolt", "zoom", "rush", "hurtle", "scurry", "tilt", "bounce", "bound", "launch", "tumble", "tuck",
    "heels", "frontflip", "aerial", "stroll", "amble", "wander", "stride", "trek", "upright", "freeze",
    "stationary", "standstill", "motionless", "cruise", "glide", "trot", "speedometer", "advance", "proceed",
    "locomote", "frontwards", "onward", "rear", "rearward", "rearwards", "kindly", "subsequently", "afterwards",
    "signal", "lasting", "throughout", "period",
}

SPEED_SPELLINGS = {
    "m/s": ["m/s", "m/s", "m/s", "metres per second", "meters per second", "meter per second", "m per s", "mps",
            "metres a second", "m/sec", "meters/second"],
    "km/h": ["km/h", "kilometres per hour", "kilometers an hour", "kph", "km per hour", "kmh"],
    "mph": ["mph", "miles per hour", "miles an hour"],
    "cm/s": ["cm/s", "centimetres per second"],
}
DURATION_SPELLINGS = {
    "seconds": ["seconds", "seconds", "seconds", "s", "sec", "secs", "second"],
    "minutes": ["minutes", "minute", "min", "mins"],
    "hours": ["hours", "hour"],
}
# discourse fillers, inserted anywhere in a few examples of every split: words that mean nothing
FILLERS = ["um", "uh", "erm", "like", "actually", "basically", "well", "so", "ok", "okay", "hmm", "you know",
           "i guess", "i think", "maybe", "perhaps", "er", "anyway", "really"]
SKILL_WEIGHTS = {"target_speed": 30, "run_forward": 12, "run_backward": 12, "jump": 11, "front_flip": 11,
                 "walk": 10, "stand_up": 10, "stand_still": 4}
# numbers and units stay intact: a typo there changes the meaning, not just the spelling
_NO_TYPOS = set(ONES) | set(TENS) | {"hundred", "point", "minus", "negative", "second", "seconds", "minute", "minutes",
                                     "hours", "metres", "meters", "metre", "meter", "kilometres", "kilometers",
                                     "miles", "centimetres", "couple", "dozen"}
_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


@dataclass(frozen=True)
class DatasetConfig:
    seed: int = 0
    n_train: int = 30_000
    n_val: int = 500
    n_test: int = 2_000
    n_paraphrase: int = 2_000
    refusal_share: float = 0.12  # whole instructions no skill covers (incl. greetings and gibberish)
    mixed_share: float = 0.03  # sequences with one uncovered step
    noun_share: float = 0.07  # descriptions of the motion ("show me a front flip")
    sequence_share: float = 0.3  # two or three steps
    typo_rate: float = 0.06  # examples with one typo in a word
    filler_rate: float = 0.06  # examples with one discourse filler ("um", "like", "basically") inserted


@dataclass(frozen=True)
class Example:
    instruction: str  # what a person types
    normalised: str  # what the model reads (helpers.normalise)
    plan: str  # what the model should write (helpers.plans)
    kind: str  # single | noun | sequence | refusal | mixed | gibberish
    templates: tuple[str, ...] = field(default=())  # "category:template" keys, for the disjointness tests

    def to_json(self) -> dict:
        return asdict(self)


def integer_words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    return str(n)


def number_surface(value: float, rng: random.Random, words_share: float = 0.25) -> str:
    """How a person might write ``value``: digits mostly, sometimes words ("two and a half")."""
    if rng.random() >= words_share or value >= 100:
        text = format_number(value)
        return text + ".0" if rng.random() < 0.05 and "." not in text else text
    whole, frac = int(value), round(value - int(value), 2)
    if frac == 0:
        return integer_words(whole)
    if frac == 0.5 and whole >= 1 and rng.random() < 0.5:
        return f"{integer_words(whole)} and a half"
    digits = format_number(frac)[2:]
    return f"{integer_words(whole)} point " + " ".join(_ONES[int(d)] for d in digits)


class Generator:
    """Draws examples from one pool with one seeded random stream."""

    def __init__(self, pool: Pool, pool_name: str, config: DatasetConfig, rng: random.Random):
        self.pool, self.pool_name, self.config, self.rng = pool, pool_name, config, rng
        self.used: list[str] = []

    def pick(self, category: str, options: list[str]) -> str:
        choice = self.rng.choice(options)
        self.used.append(f"{category}:{choice}")
        return choice

    # numbers ------------------------------------------------------------------------------------
    def speed(self) -> tuple[str, float]:
        """A speed phrase ("2.5 m/s", "nine km/h") and its magnitude in m/s."""
        rng = self.rng
        unit = rng.choices(["m/s", "km/h", "mph", "cm/s"], weights=[75, 15, 6, 4])[0]
        out_of_range = rng.random() < 0.08
        if unit == "m/s":
            if out_of_range:
                value = rng.choice([round(rng.uniform(3.1, 12), 1), float(rng.randint(4, 20))])
            else:
                value = rng.choice([float(rng.randint(0, 3)), rng.randint(0, 5) / 2, round(rng.uniform(0.1, 3), 1),
                                    round(rng.uniform(0.05, 3), 2)])
        elif unit == "km/h":
            value = float(rng.randint(12, 40)) if out_of_range else rng.choice(
                [float(rng.randint(1, 10)), round(rng.uniform(0.5, 10.8), 1), 3.6, 7.2, 5.4, 9.0, 10.8])
        elif unit == "mph":
            value = float(rng.randint(8, 25)) if out_of_range else rng.choice([float(rng.randint(1, 6)), 1.5, 2.5, 4.5])
        else:
            value = float(rng.randint(40, 99) * 10) if out_of_range else float(rng.randint(1, 30) * 10)
        spelling = rng.choice(SPEED_SPELLINGS[unit])
        return f"{number_surface(value, rng)} {spelling}", convert_speed(value, unit)

    def duration(self) -> tuple[str, float]:
        rng = self.rng
        r = rng.random()
        if r < 0.08:  # spelled-out amounts
            return rng.choice([("half a minute", 30.0), ("a minute", 60.0), ("a minute and a half", 90.0),
                               ("a couple of seconds", 2.0), ("a second", 1.0), ("an hour", 3600.0)])
        if r < 0.2:
            value, unit = rng.choice([1.0, 2.0, 0.5, 1.5, 3.0, float(rng.randint(2, 10))]), "minutes"
        elif r < 0.22:
            value, unit = float(rng.randint(1, 2)), "hours"
        else:
            unit = "seconds"
            value = rng.choices([float(rng.randint(1, 30)), rng.randint(1, 40) / 2, round(rng.uniform(0.5, 20), 1),
                                 float(rng.randint(30, 120)), float(rng.randint(301, 900))], weights=[50, 15, 15, 12, 4])[0]
        spelling = rng.choice(DURATION_SPELLINGS[unit])
        if value == 1 and spelling.endswith("s") and len(spelling) > 3:
            spelling = spelling[:-1]
        surface = number_surface(value, rng)
        if rng.random() < 0.08 and spelling in ("seconds", "minutes") and "." not in surface and " " not in surface:
            return f"{surface}-{spelling[:-1]}", convert_duration(value, unit)  # "a 3-second sprint" style
        return f"{surface} {spelling}", convert_duration(value, unit)

    # one step ---------------------------------------------------------------------------------
    def step(self, nouns: bool = False, with_duration: float = 0.35) -> tuple[str, tuple]:
        """A phrase for one step and its plan tuple (skill, speed, duration)."""
        rng, pool = self.rng, self.pool
        skill = rng.choices(list(SKILL_WEIGHTS), weights=list(SKILL_WEIGHTS.values()))[0]
        speed = None
        if skill == "target_speed":
            surface, magnitude = self.speed()
            backward = rng.random() < 0.45
            template = self.pick("speed_noun" if nouns else "speed_verb", pool.speed_nouns if nouns else pool.speed_verbs)
            if "{dir}" in template:
                if backward and rng.random() < 0.15:
                    direction, surface = "", "-" + surface if surface[0].isdigit() else "minus " + surface
                else:
                    direction = rng.choice(pool.backward if backward else pool.forward)
                    if direction:  # "" (no direction word) is in both pools and is no template
                        self.used.append(f"direction:{direction}")
            else:
                direction = ""
                if backward:
                    surface = "-" + surface if surface[0].isdigit() else "minus " + surface
            phrase = template.format(v=surface, dir=direction)
            skill, speed = "target_speed", -magnitude if backward else magnitude
        elif skill == "walk" and not nouns and rng.random() < 0.1:
            phrase = self.pick("walk_speed_verb", pool.walk_speed_verbs).format(v=self.speed()[0])
        else:
            phrase = self.pick(f"noun:{skill}" if nouns else f"verb:{skill}", (pool.nouns if nouns else pool.verbs)[skill])
            if skill == "stand_still":
                skill, speed = "target_speed", 0.0
        duration = None
        if rng.random() < with_duration:
            d_surface, duration = self.duration()
            form = self.pick("noun_duration" if nouns else "duration", pool.noun_durations if nouns else pool.durations)
            phrase = form.format(x=phrase, np=phrase, d=d_surface)
        return " ".join(phrase.split()), (skill, speed, duration)

    def refusal_step(self, with_duration: float = 0.15) -> tuple[str, tuple]:
        phrase = self.pick("refusal", self.pool.refusals)
        if self.rng.random() < with_duration:
            phrase = self.pick("duration", self.pool.durations).format(x=phrase, d=self.duration()[0])
        return phrase, (UNKNOWN,)

    def gibberish(self) -> str:
        rng = self.rng
        letters = "abcdefghijklmnopqrstuvwxyz"
        words = ["".join(rng.choice(letters) for _ in range(rng.randint(1, 9))) for _ in range(rng.randint(1, 5))]
        if rng.random() < 0.2:
            words.append(str(rng.randint(0, 99)))
        return " ".join(words)

    # whole instructions -------------------------------------------------------------------------
    def example(self) -> Example:
        rng, pool, cfg = self.rng, self.pool, self.config
        self.used = []
        r = rng.random()
        edges = [cfg.refusal_share, cfg.mixed_share, cfg.noun_share, cfg.sequence_share]
        if r < edges[0]:
            r = rng.random()
            if r < 0.15:
                text, steps, kind = self.pick("frame", pool.frames).format(x=self.gibberish()), [(UNKNOWN,)], "gibberish"
            elif r < 0.3:
                text, steps, kind = self.pick("chatter", pool.chatter), [(UNKNOWN,)], "refusal"
            else:
                text, step = self.refusal_step()
                text, steps, kind = self.pick("frame", pool.frames).format(x=text), [step], "refusal"
        elif r < sum(edges[:2]):
            parts = [self.step(with_duration=0.5), self.refusal_step()]
            rng.shuffle(parts)
            text = self.pick("sequence2", pool.sequences2).format(a=parts[0][0], b=parts[1][0])
            steps, kind = [p[1] for p in parts], "mixed"
        elif r < sum(edges[:3]):
            phrase, step = self.step(nouns=True)
            text, steps, kind = self.pick("noun_frame", pool.noun_frames).format(np=phrase), [step], "noun"
        elif r < sum(edges[:4]):
            n = 2 if rng.random() < 0.75 else 3
            parts = [self.step(with_duration=0.5) for _ in range(n)]
            template = self.pick(f"sequence{n}", pool.sequences2 if n == 2 else pool.sequences3)
            text = template.format(**{k: p[0] for k, p in zip("abc", parts)})
            if rng.random() < 0.3:
                text = self.pick("frame", pool.frames).format(x=text)
            steps, kind = [p[1] for p in parts], "sequence"
        else:
            phrase, step = self.step()
            text, steps, kind = self.pick("frame", pool.frames).format(x=phrase), [step], "single"
        text = self.noise(" ".join(text.split()))
        return Example(text, normalise(text), plan_text(steps), kind, tuple(sorted(set(self.used))))

    def noise(self, text: str) -> str:
        """Capitals, a typo, stray punctuation: what real typed instructions look like."""
        rng = self.rng
        if rng.random() < self.config.typo_rate:
            words = text.split(" ")
            candidates = [i for i, w in enumerate(words) if w.isalpha() and len(w) > 4 and w.lower() not in _NO_TYPOS]
            if candidates:
                i = rng.choice(candidates)
                w, j = words[i], rng.randrange(1, len(words[i]) - 1)
                words[i] = rng.choice([w[:j] + w[j + 1:], w[:j] + w[j + 1] + w[j] + w[j + 2:], w[:j] + w[j] + w[j:]])
                text = " ".join(words)
        if rng.random() < self.config.filler_rate:  # a spoken-language filler that changes nothing
            words = text.split(" ")
            # only between phrases (the start, the end, after punctuation), never inside "half a minute"
            safe = [i for i in range(len(words) + 1) if i in (0, len(words)) or words[i - 1][-1] in ",.!?;:"]
            at = rng.randrange(len(words) + 1)
            words.insert(min(safe, key=lambda i: (abs(i - at), i)), rng.choice(FILLERS))
            text = " ".join(words)
        r = rng.random()
        if r < 0.35:
            text = text[:1].upper() + text[1:]
        elif r < 0.38:
            text = text.upper()
        if rng.random() < 0.15 and text[-1].isalnum():
            text += rng.choice([".", "!", "..."])
        return text


def generate(pool: Pool, pool_name: str, n: int, config: DatasetConfig, stream: str,
             exclude: set[str] | None = None) -> list[Example]:
    """``n`` distinct examples from ``pool`` (none whose normalised text is in ``exclude``)."""
    rng = random.Random(f"{config.seed}:{stream}")  # str seeds hash deterministically
    gen = Generator(pool, pool_name, config, rng)
    seen = set(exclude or ())
    out: list[Example] = []
    for _ in range(n * 50):
        if len(out) == n:
            break
        example = gen.example()
        if example.normalised not in seen:
            seen.add(example.normalised)
            out.append(example)
    else:
        raise RuntimeError(f"could not draw {n} distinct examples for {stream!r}; the pool is too small")
    return out


def generator_fingerprint() -> str:
    """A short hash of all the wording the generator draws from. Training runs record it, so a run
    is never resumed (or compared) on a dataset whose pools were edited since it started."""
    import hashlib

    wording = (TRAIN_POOL, PARAPHRASE_POOL, SPEED_SPELLINGS, DURATION_SPELLINGS, FILLERS, SKILL_WEIGHTS)
    return hashlib.sha256(repr(wording).encode()).hexdigest()[:16]


def build_dataset(config: DatasetConfig = DatasetConfig()) -> dict[str, list[Example]]:
    """Train, validation, test (train templates, new fills) and paraphrase (other templates) splits."""
    train = generate(TRAIN_POOL, "train", config.n_train, config, "train")
    seen = {e.normalised for e in train}
    val = generate(TRAIN_POOL, "train", config.n_val, config, "val", exclude=seen)
    seen |= {e.normalised for e in val}
    test = generate(TRAIN_POOL, "train", config.n_test, config, "test", exclude=seen)
    seen |= {e.normalised for e in test}
    paraphrase = generate(PARAPHRASE_POOL, "paraphrase", config.n_paraphrase, config, "paraphrase", exclude=seen)
    return {"train": train, "val": val, "test": test, "paraphrase": paraphrase}


def pool_templates(pool: Pool) -> set[str]:
    """Every "category:template" key a pool can produce (for the disjointness checks)."""
    keys = set()
    for skill, phrases in pool.verbs.items():
        keys |= {f"verb:{skill}:{p}" for p in phrases}
    for skill, phrases in pool.nouns.items():
        keys |= {f"noun:{skill}:{p}" for p in phrases}
    for category in ("speed_verbs", "walk_speed_verbs", "speed_nouns", "refusals", "chatter", "frames", "noun_frames",
                     "durations", "noun_durations", "sequences2", "sequences3"):
        name = {"speed_verbs": "speed_verb", "walk_speed_verbs": "walk_speed_verb", "speed_nouns": "speed_noun",
                "refusals": "refusal", "chatter": "chatter", "frames": "frame", "noun_frames": "noun_frame", "durations": "duration",
                "noun_durations": "noun_duration", "sequences2": "sequence2", "sequences3": "sequence3"}[category]
        keys |= {f"{name}:{t}" for t in getattr(pool, category)}
    keys |= {f"direction:{d}" for d in pool.forward + pool.backward if d}
    return keys


def template_text(key: str) -> str:
    """The wording of a template key, without its category (``"frame:please {x}"`` -> ``"please {x}"``)."""
    return key.split(":", 2)[-1] if key.startswith(("verb:", "noun:")) else key.split(":", 1)[1]
